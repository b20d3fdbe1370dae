#include "agent/pipeline/capture.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "common/lsn.h"

namespace pg2bq::agent::pipeline {

namespace {

// PostgreSQL timestamps count from 2000-01-01; the sink wants Unix microseconds.
constexpr std::int64_t kPgEpochUnixMicros = 946684800LL * 1000000LL;

sink::SourceValue ToSourceValue(const ColumnValue& v) {
  switch (v.state) {
    case ColumnState::kNull:
      return sink::SourceValue::Null();
    case ColumnState::kUnchangedToast:
      return sink::SourceValue::Unchanged();
    case ColumnState::kText:
      return {sink::ValueState::kText, v.data};
    case ColumnState::kBinary:
      return {sink::ValueState::kBinary, v.data};
  }
  return sink::SourceValue::Null();
}

void ToSourceValues(const TupleData* tuple, std::vector<sink::SourceValue>* out) {
  out->clear();
  if (tuple == nullptr) return;
  for (const auto& c : tuple->columns)
    out->push_back(ToSourceValue(c));
}

// The table whose held changes a record belongs to (row batches, descriptor versions), or
// kLogicalMessagesRelation (never held; also an empty completion mark).
Oid HoldableTable(const spool::Record& record) {
  if (const auto* rb = std::get_if<spool::RowBatch>(&record)) {
    const bool completion_mark = rb->row_count == 0 && rb->rows.empty();
    return completion_mark ? kLogicalMessagesRelation : rb->table_id;
  }
  if (const auto* dv = std::get_if<spool::DescriptorVersion>(&record)) return dv->table_id;
  return kLogicalMessagesRelation;
}

}  // namespace

Capture::Capture(CaptureOptions options, spool::SpoolWriter* spool, DescriptorStore* descriptors,
                 sink::DeadLetterWriter* dead_letters, PipelineMetrics* metrics,
                 const Cancellation* cancel)
    : options_(std::move(options)),
      spool_(spool),
      descriptors_(descriptors),
      dead_letters_(dead_letters),
      metrics_(metrics),
      cancel_(cancel) {
  SetReloadable(options_.group_max_bytes, options_.group_max_rows, options_.heartbeat_interval);
}

void Capture::SetReloadable(std::size_t group_max_bytes, std::size_t group_max_rows,
                            std::chrono::milliseconds heartbeat_interval) {
  group_max_bytes_.store(group_max_bytes);
  group_max_rows_.store(group_max_rows);
  heartbeat_ms_.store(heartbeat_interval.count());
}

Capture::~Capture() = default;

Status Capture::Start() {
  // Everything the spool holds must not be appended twice; a transaction that committed at
  // or below its durable LSN is already there.
  skip_through_ = spool_->durable_lsn();
  apply_from_ = options_.apply_from;
  ApplyTableSyncChanges(options_.at_start);
  committed_lsn_ = appended_lsn_ = skip_through_;
  ReplicationStreamOptions so = options_.stream;
  // Text tuples: the sink's row encoder reads PostgreSQL's text forms. Streaming of
  // in-progress transactions is off: PostgreSQL sends a large transaction at commit and we
  // append it to the spool in parts as it arrives (memory stays bounded either way).
  so.binary = false;
  so.streaming = false;
  stream_ = std::make_unique<ReplicationStream>(so, cancel_);
  PG2BQ_RETURN_IF_ERROR(stream_->Start());
  // Never confirm less than what is durable (ReportProgress only moves forward).
  ReportProgress();
  spdlog::info("replication started at {} (spool durable through {})",
               FormatLsn(stream_->started_at()), FormatLsn(skip_through_));
  return ResetDecoder();
}

Status Capture::ResetDecoder() {
  decoder_ = std::make_unique<PgoutputDecoder>(this);
  // The server resends from the last confirmed position: transactions whose rows we
  // already hold (appended or pending) must not be taken twice.
  skip_through_ = std::max(skip_through_, committed_lsn_);
  in_txn_ = false;
  skip_txn_ = false;
  // Rows of a transaction cut off by the reconnect: the server sends it again.
  for (Table* t : txn_tables_) {
    if (!t->txn_marked) continue;
    group_bytes_ -= std::min(group_bytes_, t->batch.proto_rows.size() - t->txn_bytes);
    group_rows_ -= std::min(group_rows_, t->batch.rows.size() - t->txn_rows);
    t->batch.proto_rows.resize(t->txn_bytes);
    t->batch.rows.resize(t->txn_rows);
    t->txn_marked = false;
  }
  txn_tables_.clear();
  return Status::Ok();
}

Status Capture::Sql(SqlSession** out) {
  if (!sql_ || !sql_->healthy()) {
    sql_.reset();
    PG2BQ_ASSIGN_OR_RETURN(sql_, SqlSession::Connect(options_.sql_dsn, 30000));
  }
  *out = sql_.get();
  return Status::Ok();
}

Result<sink::SourceColumn> Capture::DescribeColumn(const RelationColumn& column) {
  sink::SourceColumn c;
  c.name = column.name;
  c.type_oid = column.type_oid;
  c.typmod = column.type_modifier;
  c.is_key = column.is_key;
  if (column.type_oid < 10000) return c;  // built-in: the sink knows it by OID
  auto it = type_cache_.find(column.type_oid);
  if (it == type_cache_.end()) {
    // Enums, domains (and their base type), extension types such as citext or hstore.
    SqlSession* sql = nullptr;
    PG2BQ_RETURN_IF_ERROR(Sql(&sql));
    PG2BQ_ASSIGN_OR_RETURN(
        auto rows,
        sql->Query("WITH RECURSIVE d(oid, base, typtype, depth) AS ("
                   "  SELECT oid, typbasetype, typtype, 0 FROM pg_type WHERE oid = $1::oid"
                   "  UNION ALL SELECT t.oid, t.typbasetype, t.typtype, d.depth + 1"
                   "  FROM pg_type t JOIN d ON t.oid = d.base WHERE d.typtype = 'd' AND depth < 10)"
                   " SELECT (SELECT typname FROM pg_type WHERE oid = $1::oid),"
                   "        (SELECT typtype FROM pg_type WHERE oid = $1::oid),"
                   "        (SELECT oid FROM d ORDER BY depth DESC LIMIT 1)",
                   {std::to_string(column.type_oid)}));
    sink::SourceColumn info;
    if (!rows.empty() && rows[0][0]) {
      info.type_name = *rows[0][0];
      const char typtype = rows[0][1] ? (*rows[0][1])[0] : 'b';
      info.is_enum = typtype == 'e';
      if (typtype == 'd' && rows[0][2])
        info.base_type_oid = static_cast<std::uint32_t>(std::stoul(*rows[0][2]));
    }
    it = type_cache_.emplace(column.type_oid, info).first;
  }
  c.type_name = it->second.type_name;
  c.base_type_oid = it->second.base_type_oid;
  c.is_enum = it->second.is_enum;
  return c;
}

Status Capture::OnRelation(const Relation& relation, bool /*schema_changed*/) {
  Table& t = tables_[relation.oid];
  t.name = relation.qualified_name;
  t.selected = options_.tables.Selected(relation.nspname, relation.name);
  if (!t.selected) return Status::Ok();
  if (options_.table_sync != nullptr && options_.table_sync->NeedsCopy(relation.oid)) {
    // Not copied yet: the copy (its snapshot taken between batches) will contain these changes.
    apply_from_[relation.oid] = ~Lsn{0};
  }
  sink::SourceRelation src;
  src.oid = relation.oid;
  src.schema = relation.nspname;
  src.name = relation.name;
  for (const auto& col : relation.columns) {
    PG2BQ_ASSIGN_OR_RETURN(auto c, DescribeColumn(col));
    src.columns.push_back(std::move(c));
  }
  return AdoptDescriptor(&t, std::move(src));
}

Status Capture::AdoptDescriptor(Table* table, sink::SourceRelation src) {
  Table& t = *table;
  const std::uint32_t oid = src.oid;
  bool created = false;
  auto d = descriptors_->Update(src, &created);
  if (!d.ok()) {
    return Status::FailedPrecondition("table " + t.name + ": " + d.status().message());
  }
  if (t.descriptor && t.descriptor->version == (*d)->version) return Status::Ok();
  // A new shape: rows encoded so far keep their version; later rows use the new one.
  CloseBatch(&t);
  t.source = std::move(src);
  t.descriptor = *d;
  t.encoder = std::make_unique<sink::RowEncoder>(t.descriptor, options_.policies);
  spool::DescriptorVersion dv;
  dv.table_id = oid;
  dv.version = t.descriptor->version;
  dv.lsn = txn_commit_lsn_;
  PG2BQ_ASSIGN_OR_RETURN(dv.descriptor, descriptors_->Serialized(oid, dv.version));
  group_bytes_ += dv.descriptor.size();
  group_.emplace_back(std::move(dv));
  spdlog::info("table {}: descriptor version {} ({} columns{})", t.name, t.descriptor->version,
               t.descriptor->columns.size(), created ? ", new" : "");
  return Status::Ok();
}

void Capture::CloseBatch(Table* t) {
  if (t->batch.rows.empty()) return;
  spool::RowBatch rb;
  rb.table_id = t->descriptor->relation_oid;
  rb.descriptor_version = t->batch.descriptor_version;
  rb.row_count = static_cast<std::uint32_t>(t->batch.rows.size());
  rb.first_commit_lsn = t->first_commit;
  rb.last_commit_lsn = t->last_commit;
  rb.rows = std::move(t->batch.proto_rows);
  group_.emplace_back(std::move(rb));
  t->batch.Clear();
  t->batch.proto_rows = std::string();
  t->first_commit = t->last_commit = kInvalidLsn;
  t->txn_marked = false;  // the rows left the open batch; a reconnect resends harmlessly
}

Status Capture::OnBegin(const TransactionBegin& begin) {
  in_txn_ = true;
  txn_commit_lsn_ = begin.final_lsn;
  txn_commit_time_us_ = begin.commit_time + kPgEpochUnixMicros;
  txn_xid_ = begin.xid;
  txn_visible_ = false;
  skip_txn_ = begin.final_lsn <= skip_through_;
  txn_tables_.clear();
  return Status::Ok();
}

Status Capture::OnCommit(const TransactionEnd& end) {
  in_txn_ = false;
  for (Table* t : txn_tables_)
    t->txn_marked = false;
  txn_tables_.clear();
  if (skip_txn_) {
    metrics_->transactions_skipped->Increment();
    skip_txn_ = false;
    return Status::Ok();
  }
  metrics_->transactions_in->Increment();
  committed_lsn_ = end.commit_lsn;
  if (group_bytes_ == 0) {
    // Nothing of ours is pending behind this commit: it may be confirmed as soon as what
    // is appended is durable.
    idle_confirm_ = std::max(idle_confirm_, end.end_lsn);
  }
  return AppendIfFull();
}

Status Capture::OnStreamStart(Xid xid, bool) {
  return Status::FailedPrecondition("streamed transaction " + std::to_string(xid) +
                                    " received although streaming is off");
}

Status Capture::OnChange(const Change& change) {
  if (change.kind == ChangeKind::kMessage) return HandleMessage(change);
  if (skip_txn_) return Status::Ok();
  auto it = tables_.find(change.relation->oid);
  if (it == tables_.end() || !it->second.selected) return Status::Ok();
  Table* t = &it->second;
  if (auto a = apply_from_.find(change.relation->oid);
      a != apply_from_.end() && txn_commit_lsn_ < a->second) {
    return Status::Ok();  // committed before the table's snapshot: in its copy
  }
  if (change.kind == ChangeKind::kTruncate) return HandleTruncate(change, t);
  metrics_->changes_in->Increment();
  if (!t->txn_marked) {
    t->txn_marked = true;
    t->txn_bytes = t->batch.proto_rows.size();
    t->txn_rows = t->batch.rows.size();
    txn_tables_.push_back(t);
  }
  PG2BQ_RETURN_IF_ERROR(EncodeRow(change, t));
  return AppendIfFull();
}

Status Capture::AppendIfFull() {
  const std::size_t max_rows = group_max_rows_.load(std::memory_order_relaxed);
  if (group_bytes_ >= group_max_bytes_.load(std::memory_order_relaxed) ||
      (max_rows != 0 && group_rows_ >= max_rows)) {
    return AppendGroup();
  }
  return Status::Ok();
}

// pg_logical_emit_message() payloads become rows of the change-log table
// pg2bq.logical_messages (prefix, content as bytes, transactional), keyed like every change
// by _pg2bq_lsn: a transactional message by its transaction's commit LSN and ordinal, a
// non-transactional one by its own LSN (ordinal 0). The agent's own heartbeats are dropped.
Status Capture::HandleMessage(const Change& change) {
  if (!options_.pass_messages || change.prefix == kHeartbeatPrefix) return Status::Ok();
  if (change.transactional ? skip_txn_ : change.message_lsn <= skip_through_) return Status::Ok();
  if (!messages_.descriptor) {
    messages_.selected = true;
    messages_.name = "pg2bq.logical_messages";
    sink::SourceRelation src;
    src.oid = kLogicalMessagesRelation;
    src.schema = "pg2bq";
    src.name = "logical_messages";
    for (const auto& [name, type] : {std::pair<const char*, std::uint32_t>{"prefix", 25},
                                     {"content", 17},
                                     {"transactional", 16}}) {
      sink::SourceColumn c;
      c.name = name;
      c.type_oid = type;
      src.columns.push_back(std::move(c));
    }
    PG2BQ_RETURN_IF_ERROR(AdoptDescriptor(&messages_, std::move(src)));
  }
  Table* t = &messages_;
  if (change.transactional && !t->txn_marked) {
    t->txn_marked = true;
    t->txn_bytes = t->batch.proto_rows.size();
    t->txn_rows = t->batch.rows.size();
    txn_tables_.push_back(t);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  message_content_.assign("\\x");
  for (unsigned char ch : change.content) {
    message_content_ += kHex[ch >> 4];
    message_content_ += kHex[ch & 15];
  }
  const sink::SourceValue values[] = {sink::SourceValue::Text(change.prefix),
                                      sink::SourceValue::Text(message_content_),
                                      sink::SourceValue::Text(change.transactional ? "t" : "f")};
  sink::SourceChange sc;
  sc.kind = sink::ChangeKind::kInsert;
  const Lsn lsn = change.transactional ? txn_commit_lsn_ : change.message_lsn;
  sc.commit_lsn = lsn;
  sc.ordinal = change.transactional ? change.ordinal : 0;
  // A non-transactional message has no commit time: the time it was received stands in.
  sc.commit_time_us = change.transactional
                          ? txn_commit_time_us_
                          : std::chrono::duration_cast<std::chrono::microseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
  sc.new_values = values;
  const std::size_t before_bytes = t->batch.proto_rows.size();
  auto r = t->encoder->Encode(sc, &t->batch);
  if (r.outcome != sink::EncodeResult::Outcome::kEncoded) {
    return Status::FailedPrecondition("logical message with prefix '" + std::string(change.prefix) +
                                      "' at " + FormatLsn(change.message_lsn) +
                                      " cannot be written: " + r.reason);
  }
  if (t->first_commit == kInvalidLsn) t->first_commit = lsn;
  t->last_commit = lsn;
  group_bytes_ += t->batch.proto_rows.size() - before_bytes;
  group_rows_ += static_cast<std::size_t>(r.rows_appended);
  metrics_->rows_spooled->Increment(static_cast<std::uint64_t>(r.rows_appended));
  return AppendIfFull();
}

// A non-transactional message writes WAL in this database even when nothing published
// changes, so the slot's confirmed position keeps moving (with logical_messages=ignore the
// walsender does not even send it). Failures are logged once per streak, never fatal.
void Capture::MaybeHeartbeat() {
  const std::chrono::milliseconds interval{heartbeat_ms_.load(std::memory_order_relaxed)};
  if (interval.count() <= 0) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_heartbeat_ < interval) return;
  last_heartbeat_ = now;
  SqlSession* sql = nullptr;
  Status s = Sql(&sql);
  if (s.ok()) {
    s = sql->Query("SELECT pg_logical_emit_message(false, '" + std::string(kHeartbeatPrefix) +
                   "', '')")
            .status();
  }
  if (!s.ok()) {
    if (!heartbeat_failing_) {
      spdlog::warn("heartbeat message failed (retried every {} ms): {}", interval.count(),
                   s.ToString());
    }
    heartbeat_failing_ = true;
  } else if (heartbeat_failing_) {
    spdlog::info("heartbeat messages are written again");
    heartbeat_failing_ = false;
  }
}

Status Capture::EncodeRow(const Change& change, Table* t) {
  ToSourceValues(change.new_tuple, &new_values_);
  ToSourceValues(change.old_tuple, &old_values_);
  sink::SourceChange sc;
  sc.kind = change.kind == ChangeKind::kInsert   ? sink::ChangeKind::kInsert
            : change.kind == ChangeKind::kUpdate ? sink::ChangeKind::kUpdate
                                                 : sink::ChangeKind::kDelete;
  sc.commit_lsn = txn_commit_lsn_;
  sc.ordinal = change.ordinal;
  sc.commit_time_us = txn_commit_time_us_;
  sc.new_values = new_values_;
  sc.old_values = old_values_;
  sc.old_is_full_row = change.old_kind == OldTupleKind::kFullTuple;

  const std::size_t before_bytes = t->batch.proto_rows.size();
  auto r = t->encoder->Encode(sc, &t->batch);
  if (r.outcome == sink::EncodeResult::Outcome::kNeedsCurrentValues) {
    bool exists = false;
    PG2BQ_RETURN_IF_ERROR(ResolveUnchanged(change, t, r.unresolved_columns, &exists));
    if (!exists) {
      // The row is gone from the source: a later change in the stream removes it from
      // the target. But an UPDATE that moved the key must still delete the OLD key, which
      // no later change mentions.
      if (change.kind != ChangeKind::kUpdate || old_values_.empty()) return Status::Ok();
      sc.kind = sink::ChangeKind::kDelete;
      sc.new_values = {};
    }
    sc.new_values = new_values_;
    r = t->encoder->Encode(sc, &t->batch);
  }
  if (r.outcome != sink::EncodeResult::Outcome::kEncoded) {
    sink::DeadLetter dl;
    dl.table = t->name;
    dl.commit_lsn = txn_commit_lsn_;
    dl.ordinal = change.ordinal;
    dl.op = std::string(ChangeKindName(change.kind));
    dl.source = "encoder";
    dl.reason = r.reason;
    PG2BQ_RETURN_IF_ERROR(dead_letters_->Append(dl));
    PG2BQ_RETURN_IF_ERROR(dead_letters_->Sync());
    metrics_->dead_letters->Increment();
    spdlog::warn("table {}: change at {}/{} not representable, dead-lettered: {}", t->name,
                 FormatLsn(txn_commit_lsn_), change.ordinal, r.reason);
    return Status::Ok();
  }
  for (const auto& issue : r.issues) {
    if (issue.lossy) spdlog::warn("table {} column {}: {}", t->name, issue.column, issue.what);
  }
  if (t->first_commit == kInvalidLsn) t->first_commit = txn_commit_lsn_;
  t->last_commit = txn_commit_lsn_;
  group_bytes_ += t->batch.proto_rows.size() - before_bytes;
  group_rows_ += static_cast<std::size_t>(r.rows_appended);
  metrics_->rows_spooled->Increment(static_cast<std::uint64_t>(r.rows_appended));
  return Status::Ok();
}

// The walsender decodes a commit as soon as its WAL record is flushed, but the committing
// backend becomes visible to other sessions only afterwards (ProcArrayEndTransaction runs
// after XLogFlush, and after the synchronous-replication wait). A read-back in that window
// sees the state *before* the transaction: a key the transaction created is "missing" and a
// value it wrote earlier is stale. So wait until this transaction is visible in a fresh
// snapshot. The 32-bit xid from Begin is widened to an xid8 around the snapshot's xmax
// (xids in use are within 2^31 of it).
Status Capture::AwaitTransactionVisible() {
  if (txn_visible_) return Status::Ok();
  static constexpr std::string_view kVisible =
      "WITH s AS (SELECT pg_current_snapshot() AS snap), "
      "r AS (SELECT snap, pg_snapshot_xmax(snap)::text::bigint AS xmax FROM s) "
      "SELECT pg_visible_in_snapshot((xmax + (((($1::bigint - (xmax & 4294967295)) % "
      "4294967296) + 4294967296 + 2147483648) % 4294967296 - 2147483648))::text::xid8, snap) "
      "FROM r";
  const auto started = std::chrono::steady_clock::now();
  auto wait = std::chrono::milliseconds(1);
  bool warned = false;
  for (;;) {
    SqlSession* session = nullptr;
    PG2BQ_RETURN_IF_ERROR(Sql(&session));
    PG2BQ_ASSIGN_OR_RETURN(auto rows, session->Query(kVisible, {std::to_string(txn_xid_)}));
    if (!rows.empty() && rows[0][0] && *rows[0][0] == "t") {
      txn_visible_ = true;
      return Status::Ok();
    }
    const auto waited = std::chrono::steady_clock::now() - started;
    if (waited > std::chrono::seconds(60)) {
      return Status::Unavailable(
          "transaction " + std::to_string(txn_xid_) + " (commit " + FormatLsn(txn_commit_lsn_) +
          ") is still not visible to other sessions 60 s after it was decoded, so its unchanged "
          "TOAST values cannot be read; is this slot a synchronous standby "
          "(synchronous_standby_names)? See docs/OPERATIONS.md");
    }
    if (!warned && waited > std::chrono::seconds(1)) {
      warned = true;
      spdlog::warn("transaction {} (commit {}) is not yet visible to other sessions; waiting",
                   txn_xid_, FormatLsn(txn_commit_lsn_));
    }
    if (cancel_->cancelled()) return Status::Aborted("cancelled");
    std::this_thread::sleep_for(wait);
    wait = std::min(wait * 2, std::chrono::milliseconds(64));
  }
}

// An UPDATE left TOASTed columns out because they did not change. The sink would otherwise
// have to send NULL (an UPSERT replaces the whole row), so read the values PostgreSQL holds
// now, by key, once the transaction is visible (AwaitTransactionVisible). Reading a newer
// value than the one at this commit is safe: any later change to that column is itself in
// the stream with a higher change sequence number and wins.
Status Capture::ResolveUnchanged(const Change& /*change*/, Table* t,
                                 const std::vector<std::size_t>& columns, bool* exists) {
  metrics_->toast_lookups->Increment();
  const auto& cols = t->source.columns;
  std::string sql = "SELECT ";
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (i) sql += ", ";
    sql += QuoteIdent(cols[columns[i]].name) + "::text";
  }
  sql += " FROM " + QuoteIdent(t->source.schema) + "." + QuoteIdent(t->source.name) + " WHERE ";
  std::vector<std::optional<std::string>> params;
  for (std::size_t i = 0; i < cols.size(); ++i) {
    if (!cols[i].is_key) continue;
    const auto& v = new_values_[i];
    if (v.state != sink::ValueState::kText) {
      return Status::FailedPrecondition("table " + t->name +
                                        ": cannot look up unchanged TOAST "
                                        "values without the key value of column " +
                                        cols[i].name);
    }
    if (!params.empty()) sql += " AND ";
    params.emplace_back(std::string(v.bytes));
    sql += QuoteIdent(cols[i].name) + "::text = $" + std::to_string(params.size());
  }
  if (params.empty()) {
    return Status::FailedPrecondition("table " + t->name +
                                      ": unchanged TOAST values in a table without a key");
  }
  PG2BQ_RETURN_IF_ERROR(AwaitTransactionVisible());
  SqlSession* session = nullptr;
  PG2BQ_RETURN_IF_ERROR(Sql(&session));
  PG2BQ_ASSIGN_OR_RETURN(auto rows, session->Query(sql, params));
  *exists = !rows.empty();
  if (!*exists) return Status::Ok();
  resolved_.assign(columns.size(), std::string());
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (!rows[0][i]) {
      new_values_[columns[i]] = sink::SourceValue::Null();
    } else {
      resolved_[i] = *rows[0][i];
      new_values_[columns[i]] = sink::SourceValue::Text(resolved_[i]);
    }
  }
  return Status::Ok();
}

// TRUNCATE travels through the spool as a RowBatch with descriptor version 0 and no rows;
// the flusher applies it in order with the table's rows (docs/OPERATIONS.md, "TRUNCATE").
Status Capture::HandleTruncate(const Change& change, Table* t) {
  switch (options_.truncate) {
    case TruncateMode::kIgnore:
      spdlog::warn("TRUNCATE of {} at {} ignored (target.truncate=ignore)", t->name,
                   FormatLsn(txn_commit_lsn_));
      return Status::Ok();
    case TruncateMode::kFail:
      return Status::FailedPrecondition("TRUNCATE of " + t->name + " at " +
                                        FormatLsn(txn_commit_lsn_) + " and target.truncate=fail");
    case TruncateMode::kDeleteKeys:
      break;
  }
  CloseBatch(t);
  spool::RowBatch rb;
  rb.table_id = change.relation->oid;
  rb.descriptor_version = 0;
  rb.row_count = 0;
  rb.first_commit_lsn = rb.last_commit_lsn = txn_commit_lsn_;
  rb.rows = nlohmann::json{{"truncate", true},
                           {"ordinal", change.ordinal},
                           {"descriptor_version", t->descriptor ? t->descriptor->version : 0}}
                .dump();
  group_bytes_ += rb.rows.size();
  group_.emplace_back(std::move(rb));
  spdlog::info("TRUNCATE of {} at {} queued", t->name, FormatLsn(txn_commit_lsn_));
  return Status::Ok();
}

Status Capture::AppendGroup() {
  for (auto& [oid, t] : tables_)
    CloseBatch(&t);
  CloseBatch(&messages_);
  if (group_.empty()) {
    group_bytes_ = group_rows_ = 0;
    return Status::Ok();
  }
  // The last record completes every transaction committed so far (a transaction still open
  // may have rows in this group: it is completed by a later group).
  const Lsn complete = committed_lsn_ > appended_lsn_ ? committed_lsn_ : kInvalidLsn;
  if (!held_.empty()) {
    // Tables being copied (docs/SNAPSHOT.md, "Hold-back"): their records go to their side
    // spools, durable before the group is appended -- the spool's durable LSN, which
    // PostgreSQL is told, then never covers a held change that could still be lost.
    main_.clear();
    bool diverted = false;
    Oid held_table = 0;
    for (std::size_t i = 0; i < group_.size();) {
      const Oid table = HoldableTable(group_[i]);
      if (table == kLogicalMessagesRelation || held_.count(table) == 0) {
        main_.push_back(std::move(group_[i++]));
        continue;
      }
      // A run of records of the same held table goes in one append.
      std::size_t end = i + 1;
      while (end < group_.size() && HoldableTable(group_[end]) == table)
        ++end;
      PG2BQ_RETURN_IF_ERROR(options_.table_sync->Hold(
          table, std::span<const spool::Record>(group_.data() + i, end - i)));
      diverted = true;
      held_table = table;
      i = end;
    }
    if (diverted) {
      PG2BQ_RETURN_IF_ERROR(options_.table_sync->SyncHeld());
      const bool has_rows = std::any_of(main_.begin(), main_.end(), [](const spool::Record& r) {
        return std::holds_alternative<spool::RowBatch>(r);
      });
      if (!has_rows && complete != kInvalidLsn) {
        // Every row of the group was held: an empty batch carries the completion LSN (the
        // flusher passes it without sending anything).
        spool::RowBatch mark;
        mark.table_id = held_table;
        main_.emplace_back(std::move(mark));
      }
    }
    // What stays in group_ is what the spool gets (also when the append is retried).
    group_.swap(main_);
    main_.clear();
  }
  for (auto it = group_.rbegin(); it != group_.rend(); ++it) {
    if (auto* rb = std::get_if<spool::RowBatch>(&*it)) {
      rb->complete_through_lsn = complete;
      break;
    }
  }
  if (group_.empty()) {  // only descriptor versions, all held
    group_.clear();
    group_bytes_ = group_rows_ = 0;
    return Status::Ok();
  }
  // A group of descriptor records only carries no completion mark, which is fine: it
  // completes no rows, and PostgreSQL is only ever told the spool's durable LSN.
  std::optional<std::chrono::steady_clock::time_point> paused_since;
  for (;;) {
    auto pos = spool_->AppendGroup(group_);  // waits up to spool.budget_wait for space
    if (pos.ok()) break;
    if (pos.status().code() != Status::Code::kResourceExhausted) return pos.status();
    if (!paused_since) {
      paused_since = std::chrono::steady_clock::now();
      metrics_->spool_paused->Set(1);
      spdlog::warn("spool budget reached: reading paused until the flusher frees space ({})",
                   pos.status().message());
    }
    // Not reading lets the walsender's socket fill; a status update now and then keeps it
    // from ending the connection at wal_sender_timeout while we wait.
    (void)stream_->SendStatusNow();
    if (cancel_->cancelled()) return Status::Aborted("cancelled while the spool was full");
  }
  if (paused_since) {
    metrics_->spool_paused->Set(0);
    spdlog::info(
        "spool has room again: reading resumed after {:.1f} s",
        std::chrono::duration<double>(std::chrono::steady_clock::now() - *paused_since).count());
  }
  if (complete != kInvalidLsn) appended_lsn_ = complete;
  skip_through_ = std::max(skip_through_, appended_lsn_);
  group_.clear();
  group_bytes_ = group_rows_ = 0;
  return Status::Ok();
}

Status Capture::RunTableSync() {
  PG2BQ_ASSIGN_OR_RETURN(auto changes, options_.table_sync->CopyPending([this] {
    // The slot is not read meanwhile (held changes appended behind a copy, a full spool).
    (void)stream_->SendStatusNow();
  }));
  ApplyTableSyncChanges(changes);
  return Status::Ok();
}

Status Capture::WaitForHeldBudget() {
  if (!options_.table_sync->HeldBudgetReached()) return Status::Ok();
  // Reading on would grow the side spools past their budget. Not reading keeps the WAL in
  // PostgreSQL instead, until a table's copy ends and its held changes move to the spool (the copy
  // thread does not depend on this one). Only between transactions: the copy's end is
  // handled by CopyPending, which needs no transaction open.
  const auto since = std::chrono::steady_clock::now();
  spdlog::warn(
      "snapshot: held changes reached snapshot.held_budget: reading paused until a table's copy "
      "ends");
  metrics_->held_paused->Set(1);
  while (options_.table_sync->HeldBudgetReached()) {
    if (cancel_->cancelled()) {
      metrics_->held_paused->Set(0);
      return Status::Ok();  // the stop: Run() ends; nothing was resumed
    }
    (void)stream_->SendStatusNow();  // keeps wal_sender_timeout away
    cancel_->SleepFor(std::chrono::milliseconds(100));
    PG2BQ_RETURN_IF_ERROR(RunTableSync());
  }
  metrics_->held_paused->Set(0);
  spdlog::info("snapshot: held changes below snapshot.held_budget: reading resumed after {:.1f} s",
               std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count());
  return Status::Ok();
}

void Capture::ApplyTableSyncChanges(const std::vector<TableSyncChange>& changes) {
  for (const TableSyncChange& c : changes) {
    apply_from_[c.table] = c.apply_from;
    if (c.held) {
      held_.insert(c.table);
    } else {
      held_.erase(c.table);
    }
  }
}

void Capture::ReportProgress() {
  Lsn durable = spool_->durable_lsn();
  metrics_->durable_lsn->Set(static_cast<double>(durable));
  // Nothing pending and no transaction open: positions with nothing of ours behind them.
  if (!in_txn_ && group_bytes_ == 0 && spool_->appended_end() == spool_->durable_end() &&
      idle_confirm_ > durable) {
    durable = idle_confirm_;
  }
  if (durable != kInvalidLsn) stream_->ReportProgress(durable, durable, durable);
}

Status Capture::Run() {
  ReplicationBatch batch;
  Status result = Status::Ok();
  while (!cancel_->cancelled()) {
    Status s = stream_->Next(&batch, std::chrono::milliseconds(100));
    if (!s.ok()) {
      if (cancel_->cancelled()) break;
      result = s;
      break;
    }
    if (batch.reconnected) {
      spdlog::warn("replication reconnected at {}; resetting decoder state",
                   FormatLsn(stream_->started_at()));
      PG2BQ_RETURN_IF_ERROR(ResetDecoder());
    }
    for (const auto& m : batch.messages) {
      s = decoder_->Decode(m.wal_start, m.payload);
      if (!s.ok()) break;
      if (!in_txn_ && !held_.empty() && options_.table_sync->HeldBudgetReached()) {
        // At a commit, not only between batches: a received batch can hold far more than
        // the budget's margin.
        s = AppendGroup();
        if (s.ok()) s = WaitForHeldBudget();
        if (!s.ok()) break;
      }
    }
    if (!s.ok() && s.code() == Status::Code::kUnavailable && !cancel_->cancelled()) {
      // The source went away while a change was being handled (e.g. PostgreSQL restarted
      // during an unchanged-TOAST read-back). Like a dropped replication connection: the
      // next Next() reconnects with backoff, the decoder is reset and the open transaction
      // rolled back; PostgreSQL resends everything not confirmed.
      spdlog::warn("source unavailable while handling changes ({}); reconnecting", s.ToString());
      sql_.reset();
      stream_->Close();
      continue;
    }
    if (!s.ok()) {
      result = s;
      break;
    }
    if (batch.server_wal_end != kInvalidLsn)
      metrics_->received_lsn->Set(static_cast<double>(batch.server_wal_end));
    if (batch.keepalive && !in_txn_ && group_bytes_ == 0)
      idle_confirm_ = std::max(idle_confirm_, batch.keepalive_wal_end);
    // The received batch is used up: hand what we have to the spool.
    s = AppendGroup();
    if (!s.ok()) {
      result = s;
      break;
    }
    ReportProgress();
    MaybeHeartbeat();
    if (options_.table_sync != nullptr && !in_txn_) {
      s = RunTableSync();
      if (s.ok()) s = WaitForHeldBudget();
      if (!s.ok()) {
        result = s;
        break;
      }
    }
  }
  // Final: append what is complete, make it durable, confirm it.
  if (result.ok() || result.code() == Status::Code::kAborted) {
    if (in_txn_) ResetDecoder().ok();  // drop the open transaction's rows; resent later
    Status s = AppendGroup();
    if (s.ok()) s = spool_->Sync();
    if (s.ok()) {
      ReportProgress();
      stream_->SendStatusNow().ok();
    } else if (result.ok()) {
      result = s;
    }
  }
  stream_->Close();
  if (cancel_->cancelled() && result.code() == Status::Code::kAborted) return Status::Ok();
  return result;
}

}  // namespace pg2bq::agent::pipeline
