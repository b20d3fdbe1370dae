#include "agent/snapshot/table_sync.h"

#include <libpq-fe.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>

#include "agent/snapshot/source_table.h"
#include "agent/snapshot/spool_append.h"
#include "agent/snapshot/table_snapshot.h"

namespace pg2bq::agent::snapshot {

TableSync::TableSync(TableSyncOptions options, SyncStateStore* states,
                     pipeline::DescriptorStore* descriptors, spool::SpoolWriter* spool,
                     sink::DeadLetterWriter* dead_letters, pipeline::PipelineMetrics* metrics,
                     const Cancellation* cancel)
    : options_(std::move(options)),
      states_(states),
      descriptors_(descriptors),
      spool_(spool),
      dead_letters_(dead_letters),
      metrics_(metrics),
      cancel_(cancel),
      held_(options_.held_dir, spool->options()) {
  next_poll_ = std::chrono::steady_clock::now() + options_.poll_interval;
}

TableSync::~TableSync() {
  Stop();
}

void TableSync::Stop() {
  if (copy_thread_.joinable()) copy_thread_.join();
  if (Status s = held_.CloseAll(); !s.ok()) spdlog::error("snapshot: {}", s.ToString());
}

Result<bool> TableSync::SlotExists() {
  PG2BQ_ASSIGN_OR_RETURN(auto conn, PgConnection::Connect(options_.dsn, ConnectionKind::kNormal,
                                                          options_.timeout, cancel_));
  PG2BQ_ASSIGN_OR_RETURN(
      auto res, conn->Exec("SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = " +
                               conn->QuoteLiteral(options_.slot),
                           options_.timeout, cancel_));
  return PQntuples(res.get()) == 1;
}

Status TableSync::EnsurePublication() {
  PG2BQ_ASSIGN_OR_RETURN(auto conn, PgConnection::Connect(options_.dsn, ConnectionKind::kNormal,
                                                          options_.timeout, cancel_));
  PG2BQ_ASSIGN_OR_RETURN(auto res,
                         conn->Exec("SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = " +
                                        conn->QuoteLiteral(options_.publication),
                                    options_.timeout, cancel_));
  if (PQntuples(res.get()) == 1) return Status::Ok();
  if (!options_.create_publication) {
    // Capture::Start reports it with the fix; the slot must not be created before it.
    return Status::NotFound("publication " + options_.publication + " does not exist");
  }
  spdlog::info("creating publication {} FOR ALL TABLES", options_.publication);
  return conn
      ->Exec(
          "CREATE PUBLICATION " + conn->QuoteIdentifier(options_.publication) + " FOR ALL TABLES",
          options_.timeout, cancel_)
      .status()
      .WithContext("creating publication \"" + options_.publication + "\"");
}

Result<std::vector<TableSync::Named>> TableSync::PublishedTables() {
  PG2BQ_ASSIGN_OR_RETURN(auto conn, PgConnection::Connect(options_.dsn, ConnectionKind::kNormal,
                                                          options_.timeout, cancel_));
  PG2BQ_ASSIGN_OR_RETURN(
      auto res,
      conn->Exec("SELECT c.oid, p.schemaname, p.tablename FROM pg_catalog.pg_publication_tables p "
                 "JOIN pg_catalog.pg_namespace n ON n.nspname = p.schemaname "
                 "JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = p.tablename "
                 "WHERE p.pubname = " +
                     conn->QuoteLiteral(options_.publication) + " ORDER BY 2, 3",
                 options_.timeout, cancel_));
  std::vector<Named> out;
  for (int i = 0; i < PQntuples(res.get()); ++i) {
    Named t;
    t.oid = static_cast<Oid>(std::stoul(PQgetvalue(res.get(), i, 0)));
    t.schema = PQgetvalue(res.get(), i, 1);
    t.name = PQgetvalue(res.get(), i, 2);
    if (options_.tables.Selected(t.schema, t.name)) out.push_back(std::move(t));
  }
  return out;
}

Result<std::vector<TableSync::Named>> TableSync::TablesToCopy(bool include_unknown) {
  PG2BQ_ASSIGN_OR_RETURN(auto published, PublishedTables());
  PG2BQ_ASSIGN_OR_RETURN(auto requests, ResyncRequestsSorted());
  std::vector<Named> out;
  for (const Named& t : published) {
    const bool resync = std::binary_search(requests.begin(), requests.end(), t.oid);
    auto state = states_->Load(t.oid);
    if (!state.ok() && state.status().code() != Status::Code::kNotFound) return state.status();
    if (resync) {
      // A fresh copy at a new snapshot: forget chunks and hold_from of the earlier one.
      TableSyncState fresh;
      fresh.relation_oid = t.oid;
      fresh.schema = t.schema;
      fresh.table = t.name;
      PG2BQ_RETURN_IF_ERROR(states_->Save(fresh));
      PG2BQ_RETURN_IF_ERROR(states_->ClearResync(t.oid));
      spdlog::info("snapshot {}.{}: re-sync requested", t.schema, t.name);
      out.push_back(t);
    } else if (state.ok()) {
      if (state->phase == SyncPhase::kInit || state->phase == SyncPhase::kCopying) out.push_back(t);
    } else if (include_unknown) {
      out.push_back(t);
    }
  }
  for (std::uint32_t oid : requests) {
    if (std::none_of(published.begin(), published.end(),
                     [&](const Named& t) { return t.oid == oid; })) {
      spdlog::warn(
          "snapshot: re-sync request for relation {} dropped: not a selected table of "
          "publication {}",
          oid, options_.publication);
      PG2BQ_RETURN_IF_ERROR(states_->ClearResync(oid));
    }
  }
  return out;
}

Result<std::vector<std::uint32_t>> TableSync::ResyncRequestsSorted() {
  PG2BQ_ASSIGN_OR_RETURN(auto requests, states_->ResyncRequests());
  std::sort(requests.begin(), requests.end());
  return requests;
}

Result<std::vector<pipeline::TableSyncChange>> TableSync::Bootstrap() {
  std::vector<pipeline::TableSyncChange> holds;
  PG2BQ_RETURN_IF_ERROR(states_->Open());
  PG2BQ_ASSIGN_OR_RETURN(bool exists, SlotExists());
  if (!exists) {
    // Capture::Start reports a missing slot that may not be created, or a missing
    // publication, with the fix.
    if (!options_.create_slot) return holds;
    if (Status s = EnsurePublication(); !s.ok()) {
      if (s.code() == Status::Code::kNotFound) return holds;
      return s;
    }
    if (!options_.copy) {
      spdlog::info("snapshot.initial = skip: existing rows are not copied");
      return holds;
    }
    // The tables to copy are read before the slot (and its snapshot H) exists. pgoutput
    // sends a table's changes only from the commit that added it to the publication on: a
    // table added after H but read as published here would be copied at H, and its changes
    // between H and the ALTER PUBLICATION would be neither copied nor streamed. Read first,
    // a table added in between is simply not copied now: its first change (a Relation
    // message without sync state) or the next publication poll copies it while streaming.
    PG2BQ_ASSIGN_OR_RETURN(auto tables, PublishedTables());
    PG2BQ_ASSIGN_OR_RETURN(auto snap, ExportedSnapshot::Create(options_.dsn, options_.slot, false,
                                                               options_.timeout, cancel_));
    spdlog::info(
        "first start: copying {} table(s) at the slot's snapshot {} while streaming; their "
        "changes are held meanwhile",
        tables.size(), FormatLsn(snap->lsn()));
    // Recorded before copying, so a crash before a table's copy begins still finishes it.
    for (const Named& t : tables) {
      TableSyncState st;
      st.relation_oid = t.oid;
      st.schema = t.schema;
      st.table = t.name;
      PG2BQ_RETURN_IF_ERROR(states_->Save(st));
    }
    // The slot was released by CREATE_REPLICATION_SLOT: Capture streams from it on its own
    // connection while this snapshot's connection stays idle until the copy ends.
    PG2BQ_RETURN_IF_ERROR(LaunchCopy(std::move(snap), std::move(tables), &holds));
  } else {
    // Unfinished copies (resumed per chunk, their side spools kept), re-sync requests and
    // tables added while the agent was down, at a temporary slot's snapshot.
    PG2BQ_RETURN_IF_ERROR(StartBackgroundCopy(&holds));
  }
  PG2BQ_RETURN_IF_ERROR(ReplayOrDiscardHeld());
  return holds;
}

Status TableSync::ReplayOrDiscardHeld() {
  PG2BQ_ASSIGN_OR_RETURN(auto on_disk, held_.OnDisk());
  for (const auto& [oid, hold_from] : on_disk) {
    // The copy that just started holds it (resumed) or has discarded it (fresh).
    if (std::any_of(copy_tables_.begin(), copy_tables_.end(),
                    [oid = oid](const Named& t) { return t.oid == oid; }))
      continue;
    auto st = states_->Load(oid);
    if (!st.ok() && st.status().code() != Status::Code::kNotFound) return st.status();
    if (st.ok() && (st->phase == SyncPhase::kCopied || st->phase == SyncPhase::kReady) &&
        st->hold_from_lsn == hold_from) {
      // The copy these changes follow is in the spool: they go behind it. (Also when an
      // earlier run replayed them but stopped before deleting them: a record sent twice
      // carries the same change sequence numbers and _pg2bq_lsn keys.)
      PG2BQ_RETURN_IF_ERROR(held_.Open(oid, hold_from));
      PG2BQ_RETURN_IF_ERROR(held_.Replay(oid, spool_, options_.batch_max_bytes, nullptr, cancel_));
    } else {
      // The table was copied again at a later snapshot, which contains these changes (they
      // were received before it was taken), or it is gone.
      PG2BQ_RETURN_IF_ERROR(held_.Discard(oid));
    }
  }
  return Status::Ok();
}

Status TableSync::CopyTables(const ExportedSnapshot& snap, const std::vector<Named>& tables) {
  // The catalog as of the snapshot: the columns the copy reads are the ones it sees.
  std::vector<SourceTable> loaded;
  {
    PG2BQ_ASSIGN_OR_RETURN(auto conn, PgConnection::Connect(options_.dsn, ConnectionKind::kNormal,
                                                            options_.timeout, cancel_));
    PG2BQ_RETURN_IF_ERROR(
        conn->Exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", options_.timeout, cancel_)
            .status());
    PG2BQ_RETURN_IF_ERROR(conn->Exec("SET TRANSACTION SNAPSHOT " + conn->QuoteLiteral(snap.name()),
                                     options_.timeout, cancel_)
                              .status()
                              .WithContext("importing snapshot " + snap.name()));
    for (const Named& t : tables) {
      auto st = LoadSourceTable(conn.get(), t.schema, t.name, options_.timeout, cancel_,
                                options_.publication);
      if (!st.ok() && st.status().code() == Status::Code::kNotFound) {
        // Dropped or renamed meanwhile: nothing to copy; the stream says what happens next.
        spdlog::warn("snapshot {}.{}: not copied: {}", t.schema, t.name, st.status().ToString());
        PG2BQ_RETURN_IF_ERROR(states_->Remove(t.oid));
        continue;
      }
      // Anything else (a stop signal, a dropped connection, a timeout) fails the copy and
      // keeps every state: the table stays held or waiting and is copied at the next try.
      if (!st.ok()) return st.status().WithContext("snapshot of " + t.schema + "." + t.name);
      loaded.push_back(std::move(*st));
    }
    PG2BQ_RETURN_IF_ERROR(conn->Exec("COMMIT", options_.timeout, cancel_).status());
  }
  // Tables of one chunk (below snapshot.chunk_size) are copied side by side, one connection
  // each; larger tables one after the other, each with every worker on its chunks.
  std::vector<const SourceTable*> small, large;
  for (const SourceTable& t : loaded)
    (t.relpages <= options_.min_chunk_pages ? small : large).push_back(&t);
  const std::size_t side_by_side =
      std::min<std::size_t>(small.size(), std::max<std::uint32_t>(1, options_.workers));
  if (side_by_side > 1) {
    std::atomic<std::size_t> next{0};
    std::mutex failure_mu;
    Status failure;
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < side_by_side; ++i) {
      threads.emplace_back([&] {
        for (std::size_t k = next++; k < small.size(); k = next++) {
          Status s = CopyOne(snap, *small[k], 1);
          std::lock_guard lock(failure_mu);
          if (!s.ok() && failure.ok()) failure = s;
          if (!failure.ok()) return;
        }
      });
    }
    for (auto& t : threads)
      t.join();
    PG2BQ_RETURN_IF_ERROR(failure);
  } else {
    for (const SourceTable* t : small)
      PG2BQ_RETURN_IF_ERROR(CopyOne(snap, *t, 1));
  }
  for (const SourceTable* t : large)
    PG2BQ_RETURN_IF_ERROR(CopyOne(snap, *t, options_.workers));
  return Status::Ok();
}

Status TableSync::CopyOne(const ExportedSnapshot& snap, const SourceTable& table,
                          std::uint32_t workers) {
  const auto& rel = table.relation;
  bool created = false;
  auto d = descriptors_->Update(rel, &created);
  if (!d.ok()) return d.status().WithContext("snapshot of " + rel.schema + "." + rel.name);
  spool::DescriptorVersion dv;
  dv.table_id = rel.oid;
  dv.version = (*d)->version;
  dv.lsn = snap.lsn();
  PG2BQ_ASSIGN_OR_RETURN(dv.descriptor, descriptors_->Serialized(rel.oid, dv.version));
  PG2BQ_RETURN_IF_ERROR(AppendWhenSpoolHasRoom(spool_, dv, kCopyBudgetPatience, cancel_)
                            .WithContext("snapshot of " + rel.schema + "." + rel.name));
  PG2BQ_RETURN_IF_ERROR(ClearBeforeCopy(snap, rel, **d));

  TableSnapshotOptions o;
  o.dsn = options_.dsn;
  o.snapshot_name = snap.name();
  o.snapshot_lsn = snap.lsn();
  o.workers = workers;
  o.max_chunks = options_.max_chunks;
  o.min_chunk_pages = options_.min_chunk_pages;
  o.batch_max_bytes = options_.batch_max_bytes;
  o.policies = options_.policies;
  o.dead_letters = dead_letters_;
  o.progress_interval = options_.progress_interval;
  o.on_progress = [this](const TableProgress& p) { ShowProgress(p); };
  {
    std::lock_guard lock(mu_);
    copying_now_.insert(rel.oid);
  }
  metrics_->snapshot_tables_copying->Add(1);
  auto r = CopyTable(o, table, *d, states_, spool_, cancel_);
  metrics_->snapshot_tables_copying->Add(-1);
  Status ready = Status::Ok();
  {
    std::lock_guard lock(mu_);
    copying_now_.erase(rel.oid);
    // Only the end marker of this copy (same hold_from) makes it ready: an earlier copy's
    // marker acknowledged during a re-sync does not.
    if (auto acked = acked_early_.find(rel.oid); acked != acked_early_.end()) {
      const Lsn acked_hold_from = acked->second;
      acked_early_.erase(acked);
      if (r.ok()) ready = MarkReady(rel.oid, acked_hold_from);
    }
  }
  if (!r.ok()) return r.status();
  PG2BQ_RETURN_IF_ERROR(ready);
  if (!r->skipped) metrics_->snapshot_tables_copied->Increment();
  std::lock_guard lock(finished_mu_);
  finished_.push_back(rel.oid);
  return Status::Ok();
}

Status TableSync::ClearBeforeCopy(const ExportedSnapshot& snap, const sink::SourceRelation& rel,
                                  const sink::TableDescriptor& d) {
  if (!options_.clear_before_copy || d.mode != sink::WriteMode::kCdc) return Status::Ok();
  auto state = states_->Load(rel.oid);
  if (!state.ok()) return state.status();
  // Resumed: rows of its done chunks are in the target, older than S - 2 (their snapshot)
  // and not copied again, so a TRUNCATE now would delete them.
  if (state->ChunksDone() != 0) return Status::Ok();
  // Copied rows carry the sequence number of S - 1; the TRUNCATE's key deletes carry S - 2.
  // So they lose to every copied row and every later change, whichever reaches BigQuery
  // first, and remove only rows written before: an earlier copy's rows whose keys are gone
  // since, rows from a time the table was not replicated.
  spool::RowBatch rb;
  rb.table_id = rel.oid;
  rb.descriptor_version = 0;
  rb.first_commit_lsn = rb.last_commit_lsn = snap.lsn() - 2;
  rb.rows = nlohmann::json{
      {"truncate", true},
      {"ordinal", 0},
      {"descriptor_version", d.version},
      {"before_copy",
       true}}.dump();
  return AppendWhenSpoolHasRoom(spool_, rb, kCopyBudgetPatience, cancel_)
      .WithContext("snapshot of " + rel.schema + "." + rel.name);
}

std::unordered_map<Oid, Lsn> TableSync::ApplyFrom() const {
  std::unordered_map<Oid, Lsn> out;
  auto all = states_->LoadAll();
  if (!all.ok()) return out;
  for (const auto& s : *all)
    if (s.hold_from_lsn != kInvalidLsn) out[s.relation_oid] = s.hold_from_lsn;
  return out;
}

Status TableSync::MarkReady(std::uint32_t oid, Lsn hold_from) {
  auto st = states_->Load(oid);
  if (!st.ok()) return st.status().code() == Status::Code::kNotFound ? Status::Ok() : st.status();
  // An end marker of an earlier copy (before a re-sync) does not finish the current one.
  if (st->phase != SyncPhase::kCopied || st->hold_from_lsn != hold_from) return Status::Ok();
  st->phase = SyncPhase::kReady;
  PG2BQ_RETURN_IF_ERROR(states_->Save(*st));
  spdlog::info("snapshot {}.{}: BigQuery acknowledged the copy ({} rows); table ready", st->schema,
               st->table, st->RowsCopied());
  return Status::Ok();
}

void TableSync::OnCopyAcknowledged(std::uint32_t oid, Lsn hold_from) {
  std::lock_guard lock(mu_);
  if (copying_now_.count(oid) != 0) {
    // CopyTable has not written `copied` yet; done when it returns.
    acked_early_[oid] = hold_from;
    return;
  }
  if (Status s = MarkReady(oid, hold_from); !s.ok())
    spdlog::error("snapshot: marking relation {} ready: {}", oid, s.ToString());
}

bool TableSync::NeedsCopy(Oid relation) {
  if (!options_.copy) return false;
  auto st = states_->Load(relation);
  if (st.ok() || st.status().code() != Status::Code::kNotFound) return false;
  if (std::find(requested_.begin(), requested_.end(), relation) == requested_.end())
    requested_.push_back(relation);
  return true;
}

Status TableSync::Hold(Oid relation, std::span<const spool::Record> records) {
  return held_.Append(relation, records);
}

Status TableSync::SyncHeld() {
  return held_.SyncAll();
}

Result<std::vector<pipeline::TableSyncChange>> TableSync::CopyPending(
    const std::function<void()>& waiting) {
  std::vector<pipeline::TableSyncChange> out;
  if (copy_thread_.joinable()) {
    if (!copy_done_.load(std::memory_order_acquire)) {  // still copying
      PG2BQ_RETURN_IF_ERROR(ReleaseCopiedTables(waiting, &out));
      return out;
    }
    PG2BQ_RETURN_IF_ERROR(FinishBackgroundCopy(waiting, &out));
  }
  const auto now = std::chrono::steady_clock::now();
  if (requested_.empty() && now < next_poll_) return out;
  next_poll_ = now + options_.poll_interval;
  Status started = StartBackgroundCopy(&out);
  if (!started.ok()) {
    if (cancel_ != nullptr && cancel_->cancelled()) return started;
    // Not fatal: the other tables keep flowing. A table waiting for its first copy keeps
    // its changes dropped (the retry's copy, at a later snapshot, contains them); a held
    // table stays held. Both are tried again at the next poll.
    spdlog::error("snapshot while streaming: {}; retried in {} ms", started.ToString(),
                  options_.poll_interval.count());
  }
  // Also when no copy could start: a hold with no copy to end it would keep its side
  // spool, and a reader paused at snapshot.held_budget, until a restart.
  if (Status dropped = DropAbandonedHolds(&out); !dropped.ok()) {
    if (cancel_ != nullptr && cancel_->cancelled()) return dropped;
    spdlog::error("snapshot while streaming: {}; retried in {} ms", dropped.ToString(),
                  options_.poll_interval.count());
  }
  // Tables met in a Relation message that will not be copied (not selected or published
  // any more): their changes apply again.
  for (Oid oid : requested_) {
    if (std::any_of(copy_tables_.begin(), copy_tables_.end(),
                    [&](const Named& t) { return t.oid == oid; }))
      continue;
    auto st = states_->Load(oid);
    if (!st.ok() && st.status().code() == Status::Code::kNotFound && started.ok())
      out.push_back({oid, kInvalidLsn, false});
  }
  requested_.clear();
  return out;
}

Status TableSync::DropAbandonedHolds(std::vector<pipeline::TableSyncChange>* out) {
  std::vector<std::uint32_t> held = held_.OpenTables();
  std::erase_if(held, [&](std::uint32_t oid) {
    return std::any_of(copy_tables_.begin(), copy_tables_.end(),
                       [&](const Named& t) { return t.oid == oid; });
  });
  if (held.empty()) return Status::Ok();
  PG2BQ_ASSIGN_OR_RETURN(auto published, PublishedTables());
  for (std::uint32_t oid : held) {
    if (std::any_of(published.begin(), published.end(),
                    [&](const Named& t) { return t.oid == oid; }))
      continue;
    std::string name = "relation " + std::to_string(oid);
    std::lock_guard lock(mu_);
    if (auto st = states_->Load(oid); st.ok()) name = st->schema + "." + st->table;
    spdlog::warn(
        "snapshot {}: no longer a selected table of publication {} and its copy did not "
        "finish: its held changes are dropped ({})",
        name, options_.publication,
        options_.copy ? "it is copied again if it is published again"
                      : "snapshot.initial = skip: if it is published again, only later "
                        "changes arrive");
    // Discard closes the side spool first: from then on the table cannot stay held,
    // whatever fails after. With copies off nothing would end a drop of its changes.
    Status discarded = held_.Discard(oid);
    out->push_back({oid, options_.copy ? ~Lsn{0} : kInvalidLsn, false});
    PG2BQ_RETURN_IF_ERROR(discarded);
    PG2BQ_RETURN_IF_ERROR(states_->Remove(oid));
  }
  return Status::Ok();
}

Status TableSync::StartBackgroundCopy(std::vector<pipeline::TableSyncChange>* out) {
  PG2BQ_ASSIGN_OR_RETURN(auto tables, TablesToCopy(options_.copy));
  if (tables.empty()) return Status::Ok();
  const std::string slot =
      options_.slot + "_sync_" + std::to_string(::getpid()) + "_" + std::to_string(++temp_slots_);
  PG2BQ_ASSIGN_OR_RETURN(
      auto snap, ExportedSnapshot::Create(options_.dsn, slot, true, options_.timeout, cancel_));
  spdlog::info(
      "{} table(s) to copy while streaming (unfinished, added to the publication or requested) "
      "at {}; their changes are held meanwhile",
      tables.size(), FormatLsn(snap->lsn()));
  return LaunchCopy(std::move(snap), std::move(tables), out);
}

Status TableSync::LaunchCopy(std::unique_ptr<ExportedSnapshot> snap, std::vector<Named> tables,
                             std::vector<pipeline::TableSyncChange>* out) {
  const Lsn s = snap->lsn();
  // Decide each table's hold before any of its changes after S can reach Capture: this
  // runs between two received batches, and the reader reads on only after it returns.
  for (const Named& t : tables) {
    auto st = states_->Load(t.oid);
    if (!st.ok() && st.status().code() != Status::Code::kNotFound) return st.status();
    TableSyncState state;
    if (st.ok()) state = std::move(*st);
    Lsn hold_from = s;
    if (state.hold_from_lsn != kInvalidLsn) {
      if (held_.Holds(t.oid, state.hold_from_lsn)) {
        // An earlier copy failed part way: it resumes at S, its changes since its first
        // snapshot are held since then (like a restart, "Resuming at a newer snapshot").
        hold_from = state.hold_from_lsn;
      } else {
        spdlog::warn(
            "snapshot {}.{}: the changes since {} of the interrupted copy are not held; copying "
            "it afresh",
            t.schema, t.name, FormatLsn(state.hold_from_lsn));
        state = TableSyncState{};
      }
    }
    if (hold_from == s) {
      // A fresh copy at S (CopyTable records hold_from = S); held changes of an older
      // snapshot are in it (they were received before S was taken).
      state.relation_oid = t.oid;
      state.schema = t.schema;
      state.table = t.name;
      PG2BQ_RETURN_IF_ERROR(states_->Save(state));
      if (!held_.Holds(t.oid, s)) PG2BQ_RETURN_IF_ERROR(held_.Discard(t.oid));
    }
    PG2BQ_RETURN_IF_ERROR(held_.Open(t.oid, hold_from));
    out->push_back({t.oid, hold_from, true});
  }
  copy_tables_ = tables;
  copy_done_.store(false);
  copy_thread_ = std::thread([this, snap = std::move(snap), tables = std::move(tables)]() mutable {
    Status result = CopyTables(*snap, tables);
    snap->Release();
    copy_status_ = result;
    copy_done_.store(true, std::memory_order_release);
  });
  return Status::Ok();
}

Result<bool> TableSync::ReleaseIfCopied(const Named& t, const TableSyncState& state,
                                        const std::function<void()>& waiting,
                                        std::vector<pipeline::TableSyncChange>* out) {
  if (state.phase != SyncPhase::kCopied && state.phase != SyncPhase::kReady) return false;
  if (!held_.Holds(t.oid, state.hold_from_lsn)) {
    return Status::Internal("snapshot " + t.schema + "." + t.name + ": copied from " +
                            FormatLsn(state.hold_from_lsn) +
                            " but its changes are not held from there");
  }
  // The end marker is durable: the held changes go behind it, then the table streams
  // into the spool again.
  PG2BQ_RETURN_IF_ERROR(held_.Replay(t.oid, spool_, options_.batch_max_bytes, waiting, cancel_));
  out->push_back({t.oid, state.hold_from_lsn, false});
  return true;
}

Status TableSync::ReleaseCopiedTables(const std::function<void()>& waiting,
                                      std::vector<pipeline::TableSyncChange>* out) {
  std::vector<Oid> finished;
  {
    std::lock_guard lock(finished_mu_);
    finished.swap(finished_);
  }
  for (Oid oid : finished) {
    auto t = std::find_if(copy_tables_.begin(), copy_tables_.end(),
                          [&](const Named& n) { return n.oid == oid; });
    if (t == copy_tables_.end()) continue;
    // CopyTable has written the table's state for the last time: the copy thread is done
    // with it. A state that cannot be read now is read again when the whole copy ends.
    auto state = states_->Load(oid);
    if (!state.ok()) continue;
    PG2BQ_ASSIGN_OR_RETURN(const bool released, ReleaseIfCopied(*t, *state, waiting, out));
    if (released) copy_tables_.erase(t);
  }
  return Status::Ok();
}

Status TableSync::FinishBackgroundCopy(const std::function<void()>& waiting,
                                       std::vector<pipeline::TableSyncChange>* out) {
  copy_thread_.join();
  {
    std::lock_guard lock(finished_mu_);
    finished_.clear();  // the loop below sees every table still held
  }
  const Status copied = copy_status_;
  if (!copied.ok()) {
    if (cancel_ != nullptr && cancel_->cancelled()) return copied;
    spdlog::error("snapshot while streaming: {}; retried in {} ms", copied.ToString(),
                  options_.poll_interval.count());
  }
  for (const Named& t : copy_tables_) {
    auto st = states_->Load(t.oid);
    if (!st.ok() && st.status().code() == Status::Code::kNotFound) {
      // Dropped or renamed before the snapshot: nothing was copied, nothing to hold.
      PG2BQ_RETURN_IF_ERROR(held_.Discard(t.oid));
      out->push_back({t.oid, kInvalidLsn, false});
      continue;
    }
    if (!st.ok()) return st.status();
    // Released if its copy is in the spool; else the copy failed and the table stays held,
    // to be copied again at the next poll.
    PG2BQ_RETURN_IF_ERROR(ReleaseIfCopied(t, *st, waiting, out).status());
  }
  copy_tables_.clear();
  if (!copied.ok()) next_poll_ = std::chrono::steady_clock::now() + options_.poll_interval;
  return Status::Ok();
}

void TableSync::ShowProgress(const TableProgress& p) {
  if (metrics_ != nullptr) {
    auto set = [&](Family<Gauge>* f, double v) {
      if (f == nullptr) return;
      if (auto g = f->WithLabels({p.table}); g.ok()) (*g)->Set(v);
    };
    set(metrics_->snapshot_rows, static_cast<double>(p.rows));
    set(metrics_->snapshot_rows_estimated, p.estimated_rows);
    set(metrics_->snapshot_bytes, static_cast<double>(p.bytes));
    set(metrics_->snapshot_rows_per_second, p.rows_per_second);
    set(metrics_->snapshot_eta_seconds, p.eta_seconds);
  }
  if (!options_.progress_bar) return;
  const double fraction = p.finished ? 1.0
                          : p.estimated_rows > 0
                              ? std::min(1.0, static_cast<double>(p.rows) / p.estimated_rows)
                              : static_cast<double>(p.chunks_done) /
                                    static_cast<double>(std::max<std::size_t>(1, p.chunks_total));
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(fraction * kWidth);
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.append(static_cast<std::size_t>(kWidth - filled), '.');
  std::string eta =
      p.eta_seconds < 0 ? "?" : std::to_string(static_cast<long>(p.eta_seconds)) + "s";
  std::fprintf(stderr, "\r%-32.32s [%s] %3d%% %llu rows %.0f rows/s ETA %s   %s", p.table.c_str(),
               bar.c_str(), static_cast<int>(fraction * 100),
               static_cast<unsigned long long>(p.rows), p.rows_per_second, eta.c_str(),
               p.finished ? "\n" : "");
  std::fflush(stderr);
}

}  // namespace pg2bq::agent::snapshot
