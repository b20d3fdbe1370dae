#include "agent/snapshot/table_snapshot.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "agent/snapshot/spool_append.h"

namespace pg2bq::agent::snapshot {
namespace {

std::string Eta(double seconds) {
  if (seconds < 0 || seconds > 1e7) return "unknown";
  const auto s = static_cast<long>(seconds);
  return std::to_string(s / 3600) + "h" + std::to_string((s / 60) % 60) + "m" +
         std::to_string(s % 60) + "s";
}

}  // namespace

Result<TableSnapshotResult> CopyTable(const TableSnapshotOptions& options, const SourceTable& table,
                                      std::shared_ptr<const sink::TableDescriptor> descriptor,
                                      SyncStateStore* store, spool::SpoolWriter* spool,
                                      const Cancellation* cancel) {
  const auto& rel = table.relation;
  const std::string name = rel.schema + "." + rel.name;
  TableSnapshotResult result;

  TableSyncState state;
  auto loaded = store->Load(rel.oid);
  if (loaded.ok()) {
    state = std::move(*loaded);
  } else if (loaded.status().code() != Status::Code::kNotFound) {
    return loaded.status();
  }
  if (state.phase == SyncPhase::kCopied || state.phase == SyncPhase::kReady) {
    spdlog::info("snapshot {}: already {}, not copied again", name, SyncPhaseName(state.phase));
    result.skipped = true;
    return result;
  }
  const bool resume = state.phase == SyncPhase::kCopying && !state.chunks.empty() &&
                      state.relfilenode == table.relfilenode;
  if (state.phase == SyncPhase::kCopying && !resume) {
    spdlog::warn(
        "snapshot {}: storage rewritten since the interrupted copy (relfilenode {} -> "
        "{}); copying every chunk again",
        name, state.relfilenode, table.relfilenode);
  }
  state.relation_oid = rel.oid;
  state.schema = rel.schema;
  state.table = rel.name;
  state.relfilenode = table.relfilenode;
  // Changes above the oldest snapshot any copied row came from must be applied after the copy.
  // (Also when no chunk is marked done: rows of a chunk cut off may have been sent.)
  state.hold_from_lsn = state.hold_from_lsn == kInvalidLsn
                            ? options.snapshot_lsn
                            : std::min(state.hold_from_lsn, options.snapshot_lsn);
  if (!resume) {
    state.chunks.clear();
    const std::uint64_t by_size = std::max<std::uint64_t>(
        1, table.relpages / std::max<std::uint64_t>(1, options.min_chunk_pages));
    const auto n = static_cast<std::uint32_t>(std::min<std::uint64_t>(options.max_chunks, by_size));
    for (const auto& c : PlanChunks(table.relpages, n))
      state.chunks.push_back({c, false, 0});
  } else {
    spdlog::info("snapshot {}: resuming, {}/{} chunks already copied ({} rows)", name,
                 state.ChunksDone(), state.chunks.size(), state.RowsCopied());
  }
  state.phase = SyncPhase::kCopying;
  PG2BQ_RETURN_IF_ERROR(store->Save(state));

  spool::SnapshotMarker begin;
  begin.table_id = rel.oid;
  begin.kind = spool::SnapshotMarker::Kind::kBegin;
  begin.snapshot_lsn = options.snapshot_lsn;
  begin.detail = options.snapshot_name;
  PG2BQ_RETURN_IF_ERROR(AppendWhenSpoolHasRoom(spool, begin, kCopyBudgetPatience, cancel)
                            .WithContext("snapshot of " + name));

  TableCopierOptions co;
  co.dsn = options.dsn;
  co.snapshot_name = options.snapshot_name;
  co.snapshot_lsn = options.snapshot_lsn;
  co.relation = rel;
  co.row_filter = table.row_filter;
  co.descriptor = std::move(descriptor);
  co.policies = options.policies;
  co.dead_letters = options.dead_letters;
  co.batch_max_bytes = options.batch_max_bytes;
  // Change-log targets are keyed by _pg2bq_lsn: each copied row needs its own, stable one.
  co.ctid_ordinals = co.descriptor->mode == sink::WriteMode::kChangeLog;
  co.row_commit_lsn = state.hold_from_lsn - 1;
  TableCopier copier(co, spool, cancel);

  std::vector<std::size_t> pending;
  for (std::size_t i = 0; i < state.chunks.size(); ++i)
    if (!state.chunks[i].done) pending.push_back(i);

  std::mutex mu;
  std::condition_variable cv;
  std::size_t next = 0, running = 0, marked = 0;
  Status failure;
  bool stopped = false;
  CopyProgress total;
  const auto start = std::chrono::steady_clock::now();
  const std::uint64_t rows_before = state.RowsCopied();
  const double estimate = table.reltuples > 0 ? table.reltuples : -1;

  auto worker = [&] {
    std::unique_ptr<CopySession> session;  // kept across this worker's chunks
    while (true) {
      std::size_t index;
      {
        std::lock_guard lock(mu);
        if (next == pending.size() || !failure.ok() || stopped) return;
        index = pending[next++];
        ++running;
      }
      CopyProgress chunk_progress;
      Status s;
      if (!session || session->broken()) {
        auto opened = copier.OpenSession();
        if (opened.ok()) {
          session = std::move(*opened);
        } else {
          s = opened.status();
        }
      }
      if (s.ok()) s = copier.CopyChunk(state.chunks[index].chunk, session.get(), &chunk_progress);
      // The chunk counts as done only once its rows are durable.
      if (s.ok()) s = spool->Sync();
      std::lock_guard lock(mu);
      --running;
      total.rows += chunk_progress.rows.load();
      total.bytes += chunk_progress.bytes.load();
      total.rejected += chunk_progress.rejected.load();
      if (s.ok()) {
        state.chunks[index].done = true;
        state.chunks[index].rows = chunk_progress.rows.load();
        s = store->Save(state);
        ++marked;
        if (options.stop_after_chunks != 0 && marked >= options.stop_after_chunks) stopped = true;
      }
      if (!s.ok() && failure.ok()) failure = s;
      cv.notify_all();
    }
  };
  std::vector<std::thread> threads;
  const std::size_t nworkers = std::min<std::size_t>(std::max(1u, options.workers), pending.size());
  for (std::size_t i = 0; i < nworkers; ++i)
    threads.emplace_back(worker);
  auto report = [&](bool finished) {
    // Called with `mu` held.
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    TableProgress p;
    p.relation_oid = rel.oid;
    p.table = name;
    p.rows = rows_before + total.rows.load();
    p.bytes = total.bytes.load();
    p.estimated_rows = estimate;
    p.rows_per_second = secs > 0 ? static_cast<double>(total.rows.load()) / secs : 0;
    p.eta_seconds =
        finished ? 0
        : estimate > 0 && p.rows_per_second > 0
            ? std::max(0.0, (estimate - static_cast<double>(p.rows)) / p.rows_per_second)
            : -1;
    p.chunks_done = state.ChunksDone();
    p.chunks_total = state.chunks.size();
    p.finished = finished;
    if (options.on_progress) options.on_progress(p);
    return p;
  };
  {
    // Progress: rows, bytes, rate and ETA against the planner's estimate.
    std::unique_lock lock(mu);
    report(false);
    while (!cv.wait_for(lock, options.progress_interval, [&] {
      return running == 0 && (next == pending.size() || !failure.ok() || stopped);
    })) {
      const TableProgress p = report(false);
      spdlog::info("snapshot {}: {} rows{}, {:.1f} MiB, {:.0f} rows/s, chunks {}/{}, ETA {}", name,
                   p.rows, estimate > 0 ? fmt::format(" of ~{:.0f}", estimate) : std::string(),
                   static_cast<double>(p.bytes) / (1 << 20), p.rows_per_second, p.chunks_done,
                   p.chunks_total,
                   p.eta_seconds >= 0 ? Eta(p.eta_seconds) : std::string("unknown"));
    }
  }
  for (auto& t : threads)
    t.join();
  result.rows = total.rows.load();
  result.bytes = total.bytes.load();
  result.rejected = total.rejected.load();
  result.chunks_copied = marked;
  if (!failure.ok()) return failure.WithContext("snapshot of " + name);
  if (stopped)
    return Status::Aborted("snapshot of " + name + ": stopped after " + std::to_string(marked) +
                           " chunk(s) (test hook)");
  if (cancel != nullptr && cancel->cancelled())
    return Status::Aborted("snapshot of " + name + ": cancelled");

  spool::SnapshotMarker end;
  end.table_id = rel.oid;
  end.kind = spool::SnapshotMarker::Kind::kEnd;
  end.snapshot_lsn = state.hold_from_lsn;
  end.detail = options.snapshot_name;
  PG2BQ_RETURN_IF_ERROR(AppendWhenSpoolHasRoom(spool, end, kCopyBudgetPatience, cancel)
                            .WithContext("snapshot of " + name));
  PG2BQ_RETURN_IF_ERROR(spool->Sync());
  state.phase = SyncPhase::kCopied;
  PG2BQ_RETURN_IF_ERROR(store->Save(state));
  report(true);
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  spdlog::info(
      "snapshot {}: copied {} rows ({:.1f} MiB) in {:.1f}s, {} chunk(s) this run; "
      "streamed changes above {} apply after BigQuery acknowledges the copy",
      name, state.RowsCopied(), static_cast<double>(result.bytes) / (1 << 20), secs, marked,
      FormatLsn(state.hold_from_lsn));
  return result;
}

}  // namespace pg2bq::agent::snapshot
