#include "agent/pipeline/flusher.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "agent/pipeline/table_data.h"
#include "common/lsn.h"
#include "sink/row_encoder.h"

namespace pg2bq::agent::pipeline {

namespace {

// Records of one table are merged into one Append up to this many encoded bytes.
constexpr std::size_t kMergeBytes = 4u << 20;

// Reads a varint at *p (ProtoRows framing); false when truncated.
bool ReadVarint(const char** p, const char* end, std::uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 64 && *p < end; shift += 7) {
    const auto b = static_cast<unsigned char>(*(*p)++);
    *v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

// Rebuilds an EncodedBatch's row index from the serialized ProtoRows bytes of a spool record.
Status IndexRows(spool::RowBatch& rb, sink::EncodedBatch* out) {
  out->descriptor_version = rb.descriptor_version;
  out->proto_rows = std::move(rb.rows);
  out->rows.clear();
  const char* begin = out->proto_rows.data();
  const char* p = begin;
  const char* end = p + out->proto_rows.size();
  while (p < end) {
    const char* start = p;
    std::uint64_t tag = 0, len = 0;
    if (!ReadVarint(&p, end, &tag) || tag != 0x0a || !ReadVarint(&p, end, &len) ||
        len > static_cast<std::uint64_t>(end - p)) {
      return Status::Corruption("spool row batch of table " + std::to_string(rb.table_id) +
                                " is not a ProtoRows message");
    }
    p += len;
    sink::EncodedRowInfo info;
    info.offset = static_cast<std::uint32_t>(start - begin);
    info.size = static_cast<std::uint32_t>(p - start);
    info.commit_lsn = rb.last_commit_lsn;  // for messages and dead letters
    out->rows.push_back(info);
  }
  if (out->rows.size() != rb.row_count) {
    return Status::Corruption("spool row batch of table " + std::to_string(rb.table_id) + " has " +
                              std::to_string(out->rows.size()) + " rows, header says " +
                              std::to_string(rb.row_count));
  }
  return Status::Ok();
}

// A key value from tabledata.list as the PostgreSQL text form the row encoder reads.
Result<std::string> KeyText(const nlohmann::json& v, const std::string& bq_type,
                            const std::string& column) {
  if (!v.is_string()) return Status::FailedPrecondition("key column " + column + " is NULL");
  static const std::set<std::string> kSupported = {
      "INT64",   "INTEGER",   "STRING",   "NUMERIC", "BIGNUMERIC", "DATE", "BOOL",
      "BOOLEAN", "TIMESTAMP", "DATETIME", "TIME",    "FLOAT64",    "FLOAT"};
  if (kSupported.count(bq_type) == 0) {
    return Status::FailedPrecondition("TRUNCATE by key deletion does not support key column " +
                                      column + " of type " + bq_type);
  }
  auto text = PgTextOfTableData(v.get<std::string>(), bq_type);
  if (!text.ok()) return text.status().WithContext("key column " + column);
  return text;
}

}  // namespace

Flusher::Flusher(FlusherOptions options, spool::SpoolWriter* spool, DescriptorStore* descriptors,
                 sink::DeadLetterWriter* dead_letters, PipelineMetrics* metrics)
    : options_(std::move(options)),
      spool_(spool),
      descriptors_(descriptors),
      dead_letters_(dead_letters),
      metrics_(metrics) {}

Flusher::~Flusher() {
  Abort();
}

Status Flusher::Start() {
  channel_ = sink::MakeWriteChannel(options_.endpoint);
  acked_ = checkpointed_ = read_pos_ = spool_->start_position();
  if (auto cp = spool_->last_checkpoint()) acked_lsn_ = cp->acked_lsn;
  const int n = std::max(1, options_.parallelism);
  workers_.resize(static_cast<std::size_t>(n));
  for (auto& w : workers_)
    w.queue = std::make_unique<BoundedQueue<WorkItem>>(16);
  for (int i = 0; i < n; ++i)
    workers_[i].thread = std::thread([this, i] { WorkerLoop(i); });
  dispatcher_ = std::thread([this] { DispatchLoop(); });
  return Status::Ok();
}

void Flusher::Fail(const Status& s) {
  std::lock_guard lock(mu_);
  if (failure_.ok()) {
    failure_ = s;
    spdlog::error("flusher stopped: {}", s.ToString());
  }
}

Status Flusher::failure() const {
  std::lock_guard lock(mu_);
  return failure_;
}

bool Flusher::caught_up() const {
  std::lock_guard lock(mu_);
  return acked_ >= spool_->durable_end();
}

std::uint64_t Flusher::Track(const spool::SpoolEntry& e, Lsn lsn,
                             const spool::SnapshotMarker* snapshot_end) {
  std::lock_guard lock(mu_);
  tracked_.push_back({e.next, lsn, false, snapshot_end ? snapshot_end->table_id : 0,
                      snapshot_end ? snapshot_end->snapshot_lsn : kInvalidLsn});
  read_pos_ = e.next;
  return tracked_base_ + tracked_.size() - 1;
}

void Flusher::Done(std::uint64_t seq) {
  std::vector<std::pair<std::uint32_t, Lsn>> copies_acked;
  {
    std::lock_guard lock(mu_);
    DoneLocked(seq, &copies_acked);
  }
  if (options_.on_snapshot_acked)
    for (const auto& [table, hold_from] : copies_acked)
      options_.on_snapshot_acked(table, hold_from);
}

void Flusher::DoneLocked(std::uint64_t seq,
                         std::vector<std::pair<std::uint32_t, Lsn>>* copies_acked) {
  tracked_[seq - tracked_base_].done = true;
  while (!tracked_.empty() && tracked_.front().done) {
    if (tracked_.front().snapshot_table != 0)
      copies_acked->emplace_back(tracked_.front().snapshot_table, tracked_.front().hold_from);
    acked_ = tracked_.front().next;
    if (tracked_.front().lsn != kInvalidLsn)
      acked_lsn_ = std::max(acked_lsn_, tracked_.front().lsn);
    tracked_.pop_front();
    ++tracked_base_;
  }
  metrics_->acked_lsn->Set(static_cast<double>(acked_lsn_));
  const double received = metrics_->received_lsn->value();
  metrics_->lag_bytes->Set(received > static_cast<double>(acked_lsn_)
                               ? received - static_cast<double>(acked_lsn_)
                               : 0.0);
}

Status Flusher::WriteCheckpoint() {
  spool::Checkpoint cp;
  {
    std::lock_guard lock(mu_);
    if (acked_ == checkpointed_) return Status::Ok();
    cp.position = acked_;
    cp.acked_lsn = acked_lsn_;
  }
  PG2BQ_RETURN_IF_ERROR(spool_->Acknowledge(cp));
  std::lock_guard lock(mu_);
  checkpointed_ = cp.position;
  return Status::Ok();
}

void Flusher::DispatchLoop() {
  auto reader = spool::SpoolReader::Open(spool_->options().dir, read_pos_, spool_->tail());
  if (!reader.ok()) return Fail(reader.status());
  auto last_checkpoint = std::chrono::steady_clock::now();
  // Snapshot copies (docs/SNAPSHOT.md): between a table's SnapshotMarker begin and end the
  // spool holds only its copied rows (copies are appended while the reader is paused). They
  // have distinct keys, so they are spread over every worker; before anything else of that
  // table is dispatched, every spread record must be acknowledged, which keeps the copy ahead
  // of the table's streamed changes.
  std::unordered_set<std::uint32_t> copying;
  std::unordered_map<std::uint32_t, std::uint64_t> spread_upto;  // table -> last spread seq
  std::size_t next_spread = 0;
  // A TRUNCATE (a source one, or the one before a fresh copy) lists the target's keys page
  // by page; spread copied rows landing meanwhile could shift the pages and hide keys from
  // it. So a table's copied rows wait until its TRUNCATE before them is acknowledged.
  std::unordered_map<std::uint32_t, std::uint64_t> truncate_at;  // table -> its TRUNCATE's seq
  // Waits until the item `waits` names for `table` is acknowledged (at once if none).
  auto wait_for = [&](std::unordered_map<std::uint32_t, std::uint64_t>& waits,
                      std::uint32_t table) {
    auto it = waits.find(table);
    if (it == waits.end()) return true;
    const bool ok = WaitAcknowledged(it->second);
    waits.erase(it);
    return ok;
  };
  auto barrier = [&](std::uint32_t table) { return wait_for(spread_upto, table); };
  auto after_truncate = [&](std::uint32_t table) { return wait_for(truncate_at, table); };
  while (!stop_dispatch_.load()) {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_checkpoint >= options_.checkpoint_interval) {
      Status s = WriteCheckpoint();
      if (!s.ok()) return Fail(s);
      last_checkpoint = now;
    }
    auto next = (*reader)->Next();
    if (!next.ok()) return Fail(next.status());
    if (!next->has_value()) {
      (*reader)->WaitForMore(std::chrono::milliseconds(50));
      continue;
    }
    spool::SpoolEntry& e = **next;
    if (auto* mark = std::get_if<spool::RowBatch>(&e.record);
        mark != nullptr && mark->row_count == 0 && mark->rows.empty()) {
      // A completion mark: Capture held every row of its group for a table being copied
      // (docs/SNAPSHOT.md, "Hold-back"); it only carries the LSN the group completes.
      Done(Track(e, mark->complete_through_lsn));
    } else if (auto* rb = std::get_if<spool::RowBatch>(&e.record)) {
      const bool copied_row = copying.count(rb->table_id) != 0 && rb->descriptor_version != 0 &&
                              rb->complete_through_lsn == kInvalidLsn && rb->xid == 0 &&
                              rb->first_commit_lsn == rb->last_commit_lsn;
      if (!copied_row && !barrier(rb->table_id)) return;
      if (copied_row && !after_truncate(rb->table_id)) return;
      WorkItem item;
      item.seq = Track(e, rb->complete_through_lsn);
      item.table_id = rb->table_id;
      if (rb->descriptor_version != 0) {
        auto d = descriptors_->Find(rb->table_id, rb->descriptor_version);
        if (!d.ok()) return Fail(d.status());
        item.descriptor = *d;
      }
      item.batch = std::move(*rb);
      item.bytes = item.batch.rows.size();
      if (!ReserveQueued(item.bytes)) return;
      std::size_t worker = item.table_id % workers_.size();
      if (item.batch.descriptor_version == 0) truncate_at[item.table_id] = item.seq;
      if (copied_row) {
        worker = next_spread++ % workers_.size();
        spread_upto[item.table_id] = item.seq;
      }
      auto& q = *workers_[worker].queue;
      for (;;) {
        const auto r = q.PushFor(std::move(item), std::chrono::milliseconds(100));
        if (r == QueueResult::kOk) break;
        if (r == QueueResult::kClosed || stop_dispatch_.load()) return;
      }
    } else {
      // Descriptor versions are also in the descriptor store; commit/abort/snapshot
      // markers need no sending. A snapshot end marker tells, once acknowledged with all
      // before it, that the table's copy is in BigQuery.
      const auto* marker = std::get_if<spool::SnapshotMarker>(&e.record);
      const bool end = marker != nullptr && marker->kind == spool::SnapshotMarker::Kind::kEnd;
      if (marker != nullptr) {
        // A new copy of the table (e.g. resumed after a crash) may rewrite rows of the one
        // before with the same sequence number: keep the two in order.
        if (!barrier(marker->table_id)) return;
        if (end) {
          copying.erase(marker->table_id);
        } else {
          copying.insert(marker->table_id);
        }
      }
      Done(Track(e, spool::CompleteThroughLsn(e.record), end ? marker : nullptr));
    }
  }
}

bool Flusher::ReserveQueued(std::size_t bytes) {
  std::unique_lock lock(queued_mu_);
  while (queued_bytes_ > 0 && queued_bytes_ + bytes > options_.max_queued_bytes) {
    if (stop_dispatch_.load()) return false;
    queued_cv_.wait_for(lock, std::chrono::milliseconds(100));
  }
  queued_bytes_ += bytes;
  return true;
}

void Flusher::ReleaseQueued(std::size_t bytes) {
  {
    std::lock_guard lock(queued_mu_);
    queued_bytes_ -= std::min(queued_bytes_, bytes);
  }
  queued_cv_.notify_one();
}

bool Flusher::WaitAcknowledged(std::uint64_t seq) {
  while (!stop_dispatch_.load()) {
    {
      std::lock_guard lock(mu_);
      if (tracked_base_ > seq) return true;
      if (!failure_.ok()) return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

void Flusher::WorkerLoop(int index) {
  std::map<std::uint32_t, TargetTable> tables;
  auto& q = *workers_[static_cast<std::size_t>(index)].queue;
  std::mt19937_64 rng{std::random_device{}()};
  std::optional<WorkItem> held;  // popped while merging, belongs to the next round
  std::vector<std::uint64_t> seqs;
  for (;;) {
    WorkItem item;
    if (held) {
      item = std::move(*held);
      held.reset();
    } else if (q.Pop(&item) != QueueResult::kOk) {
      return;
    }
    // Consecutive records of the same table and descriptor version go out in one Append
    // (ProtoRows entries concatenate), so many small transactions do not cost one
    // round trip each. Order is kept: a record of another table ends the run.
    seqs.assign(1, item.seq);
    std::size_t bytes = item.bytes;
    if (item.descriptor) {
      WorkItem more;
      while (item.batch.rows.size() < kMergeBytes && q.TryPop(&more) == QueueResult::kOk) {
        if (more.table_id != item.table_id || more.descriptor != item.descriptor) {
          held = std::move(more);
          break;
        }
        item.batch.rows += more.batch.rows;
        item.batch.row_count += more.batch.row_count;
        item.batch.last_commit_lsn = more.batch.last_commit_lsn;
        bytes += more.bytes;
        seqs.push_back(more.seq);
      }
    }
    for (int attempt = 1;; ++attempt) {
      if (cancel_.cancelled()) return;
      Status s = Flush(item, &tables);
      if (s.ok()) break;
      if (cancel_.cancelled()) return;
      // Damaged spool data cannot get better; anything else (including errors the sink
      // calls non-retryable) is retried with backoff: the rows stay in the spool.
      if (s.code() == Status::Code::kCorruption) return Fail(s);
      metrics_->flush_retries->Increment();
      const auto delay =
          std::chrono::milliseconds(std::min<std::int64_t>(2000, 100LL << std::min(attempt, 7)));
      spdlog::warn("flush of table {} (commit {}) failed, retry {} in {} ms: {}", item.table_id,
                   FormatLsn(item.batch.last_commit_lsn), attempt, delay.count(), s.ToString());
      if (!cancel_.SleepFor(delay / 2 + std::chrono::milliseconds(rng() % (delay.count() / 2 + 1))))
        return;
    }
    item = WorkItem{};  // free the rows before making room for more
    ReleaseQueued(bytes);
    for (std::uint64_t seq : seqs)
      Done(seq);
  }
}

Status Flusher::EnsureTable(const sink::TableDescriptor& d, TargetTable* target) {
  if (target->ensured_versions.count(d.version) != 0) return Status::Ok();
  sink::TableManager manager(options_.tables);
  PG2BQ_ASSIGN_OR_RETURN(auto sync, manager.EnsureTable(d));
  if (sync.created_table) spdlog::info("created BigQuery table {}", target->table_id);
  if (!sync.added_columns.empty())
    spdlog::info("added {} column(s) to BigQuery table {}", sync.added_columns.size(),
                 target->table_id);
  target->ensured_versions.insert(d.version);
  return Status::Ok();
}

Status Flusher::Flush(WorkItem& item, std::map<std::uint32_t, TargetTable>* tables) {
  TargetTable& target = (*tables)[item.table_id];
  if (item.descriptor) {
    if (target.table_id.empty()) {
      target.table_id = sink::TableManager::TableIdFor(*item.descriptor);
      sink::TableManager manager(options_.tables);
      target.writer = std::make_unique<sink::TableWriter>(channel_, options_.endpoint.tokens,
                                                          manager.TablePath(target.table_id),
                                                          options_.writer, dead_letters_);
    }
    PG2BQ_RETURN_IF_ERROR(EnsureTable(*item.descriptor, &target));
    sink::EncodedBatch batch;
    PG2BQ_RETURN_IF_ERROR(IndexRows(item.batch, &batch));
    const auto started = std::chrono::steady_clock::now();
    const auto dead_before = target.writer->stats().dead_letters;
    Status s = target.writer->Append(*item.descriptor, batch, cancel_);
    // Keep the rows for a retry (Append does not consume them).
    item.batch.rows = std::move(batch.proto_rows);
    if (!s.ok()) return s;
    metrics_->append_seconds->Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    metrics_->rows_flushed->Increment(batch.rows.size());
    metrics_->batches_flushed->Increment();
    metrics_->dead_letters->Increment(target.writer->stats().dead_letters - dead_before);
    return Status::Ok();
  }
  return Truncate(item, &target);
}

// TRUNCATE: every key the target holds is deleted with the truncate's change sequence
// number. A row inserted after the TRUNCATE carries a higher sequence number, so neither
// a replay of these deletes nor their order relative to later rows can remove it.
Status Flusher::Truncate(WorkItem& item, TargetTable* target) {
  const auto meta = nlohmann::json::parse(item.batch.rows, nullptr, false);
  if (meta.is_discarded() || !meta.value("truncate", false))
    return Status::Corruption("spool: malformed TRUNCATE record for table " +
                              std::to_string(item.table_id));
  const std::uint32_t version = meta.value("descriptor_version", 0u);
  if (version == 0) return Status::Ok();  // the table never had a row replicated
  // Written before a fresh snapshot copy (TableSync::ClearBeforeCopy), not by a source
  // TRUNCATE: a key type it cannot delete by leaves the older rows, it does not stop.
  const bool before_copy = meta.value("before_copy", false);
  PG2BQ_ASSIGN_OR_RETURN(auto d, descriptors_->Find(item.table_id, version));
  if (d->mode != sink::WriteMode::kCdc) {
    spdlog::warn("TRUNCATE of change-log table {}.{} is not applied (history is kept)",
                 d->pg_schema, d->pg_table);
    return Status::Ok();
  }
  const std::string table_id = sink::TableManager::TableIdFor(*d);
  if (target->table_id.empty()) {
    target->table_id = table_id;
    sink::TableManager manager(options_.tables);
    target->writer = std::make_unique<sink::TableWriter>(channel_, options_.endpoint.tokens,
                                                         manager.TablePath(table_id),
                                                         options_.writer, dead_letters_);
  }
  // Which tabledata columns hold the key, and their source column indexes.
  TableData schema;
  std::vector<std::vector<nlohmann::json>> keys;
  std::vector<int> key_pos;  // tabledata index per descriptor column (-1: not a key)
  Status listed = ListTableRows(options_.tables, table_id, &schema, [&](const auto& row) {
    if (key_pos.empty()) {
      for (const auto& col : d->columns) {
        int pos = -1;
        if (col.is_key)
          for (std::size_t i = 0; i < schema.columns.size(); ++i)
            if (schema.columns[i] == col.bq_name) pos = static_cast<int>(i);
        key_pos.push_back(pos);
      }
    }
    keys.push_back(row);
    return Status::Ok();
  });
  if (listed.code() == Status::Code::kNotFound) return Status::Ok();
  PG2BQ_RETURN_IF_ERROR(listed);
  if (keys.empty()) return Status::Ok();
  // A key the deletes cannot be built from: a source TRUNCATE is retried (logged) until
  // someone fixes it; the clearing before a copy gives up and keeps the older rows.
  auto keep_older = [&](const Status& why) {
    if (!before_copy) return why;
    spdlog::warn(
        "before the copy of {}.{}: the rows {} held from before it are kept, also those whose "
        "keys the source no longer has: {}",
        d->pg_schema, d->pg_table, table_id, why.message());
    return Status::Ok();
  };
  sink::RowEncoder encoder(d, options_.policies);
  sink::EncodedBatch batch;
  std::vector<std::string> texts(d->columns.size());
  std::vector<sink::SourceValue> values(d->columns.size());
  for (const auto& row : keys) {
    for (std::size_t c = 0; c < d->columns.size(); ++c) {
      values[c] = sink::SourceValue::Null();
      if (key_pos[c] < 0) continue;
      auto text =
          KeyText(row[static_cast<std::size_t>(key_pos[c])],
                  schema.types[static_cast<std::size_t>(key_pos[c])], d->columns[c].bq_name);
      if (!text.ok()) return keep_older(text.status());
      texts[c] = std::move(*text);
      values[c] = sink::SourceValue::Text(texts[c]);
    }
    sink::SourceChange change;
    change.kind = sink::ChangeKind::kDelete;
    change.commit_lsn = item.batch.last_commit_lsn;
    change.ordinal = meta.value("ordinal", std::uint64_t{0});
    change.old_values = values;
    auto r = encoder.Encode(change, &batch);
    if (r.outcome != sink::EncodeResult::Outcome::kEncoded)
      return keep_older(
          Status::Internal("TRUNCATE of " + table_id + ": cannot encode key delete: " + r.reason));
  }
  // The deletes use descriptor `version`, which may have columns the table lacks so far (a
  // column added, then the TRUNCATE or a re-sync before any row of it was sent).
  PG2BQ_RETURN_IF_ERROR(EnsureTable(*d, target));
  PG2BQ_RETURN_IF_ERROR(target->writer->Append(*d, batch, cancel_));
  if (before_copy) {
    spdlog::info("{}: {} key(s) from before the copy of {}.{} deleted unless the copy has them",
                 table_id, keys.size(), d->pg_schema, d->pg_table);
    return Status::Ok();
  }
  metrics_->truncates->Increment();
  spdlog::info("TRUNCATE applied to {}: {} keys deleted", table_id, keys.size());
  return Status::Ok();
}

Status Flusher::Drain(std::chrono::steady_clock::time_point deadline) {
  const spool::Position target = spool_->durable_end();
  Status result = Status::Ok();
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (!failure_.ok()) {
        result = failure_;
        break;
      }
      if (acked_ >= target) break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      result = Status::Unavailable(
          "shutdown deadline passed before BigQuery acknowledged "
          "everything; the rest stays in the spool");
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Abort();
  return result;
}

void Flusher::Abort() {
  stop_dispatch_.store(true);
  cancel_.Cancel();
  if (dispatcher_.joinable()) dispatcher_.join();
  for (auto& w : workers_)
    w.queue->Close();
  for (auto& w : workers_)
    if (w.thread.joinable()) w.thread.join();
  Status s = WriteCheckpoint();
  if (!s.ok()) spdlog::error("final checkpoint: {}", s.ToString());
}

}  // namespace pg2bq::agent::pipeline
