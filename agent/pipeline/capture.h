// Capture: the reader side of `pg2bq run`. Consumes the slot (ReplicationStream),
// decodes pgoutput (PgoutputDecoder, text tuples), encodes each change of a replicated
// table into BigQuery row bytes (sink::RowEncoder) and appends them to the spool.
// It waits only for the spool, never for BigQuery.
//
// LSN rules (docs/OPERATIONS.md, "Positions"):
//   - the flush position reported to PostgreSQL is the spool's durable LSN;
//   - when no transaction is open and everything appended is durable, a keepalive's
//     wal_end (or a commit that produced no rows) is confirmed too, so an idle database or
//     writes to unpublished/excluded tables do not hold WAL back;
//   - a transaction whose commit LSN is at or below what the spool already holds (after a
//     restart or a reconnect) is dropped on receipt.
//
// Rows of many transactions are grouped per table into one spool record; the group is
// appended when the received batch is used up, when it reaches batch_max_bytes, or at a
// descriptor change. A transaction larger than that is appended in parts (its commit is
// marked complete only by the record carrying its last rows; a crash in between makes
// PostgreSQL resend it and the resent rows carry the same change sequence numbers).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "agent/cancellation.h"
#include "agent/config.h"
#include "agent/pipeline/descriptor_store.h"
#include "agent/pipeline/pipeline_metrics.h"
#include "agent/pipeline/sql_session.h"
#include "agent/replication_stream.h"
#include "decoder/pgoutput_decoder.h"
#include "sink/dead_letter.h"
#include "sink/row_encoder.h"
#include "spool/spool_writer.h"

namespace pg2bq::agent::pipeline {

// What TableSyncHook::CopyPending tells Capture about one table.
struct TableSyncChange {
  Oid table = 0;
  // Changes committed before this LSN are in the table's copy and are dropped
  // (~Lsn{0}: all of them, the table waits for a copy; kInvalidLsn: none).
  Lsn apply_from = kInvalidLsn;
  // Its changes go to TableSyncHook::Hold instead of the spool until a later change
  // says otherwise (its copy runs meanwhile).
  bool held = false;
};

// Snapshot bootstrap of tables met while streaming (agent/snapshot/table_sync.h). A copy runs
// in a background thread while the slot keeps being read; the copied table's streamed
// changes are held on disk (Hold) until its copy is in the spool, then appended behind it, so
// a table's copied rows precede, in the spool, every streamed change of it that is applied
// (docs/SNAPSHOT.md, "Hold-back").
class TableSyncHook {
 public:
  virtual ~TableSyncHook() = default;
  // A selected table's Relation message arrived. True when the table still has to be
  // copied: its changes are dropped until CopyPending says from which LSN they apply.
  virtual bool NeedsCopy(Oid relation) = 0;
  // Called between received batches with no transaction open and nothing waiting to be
  // appended (the spool holds every change received). Starts copies, and appends the held
  // changes of finished ones to the spool; returns the tables whose handling changes.
  // `waiting` is called while the spool's budget keeps it waiting.
  virtual Result<std::vector<TableSyncChange>> CopyPending(
      const std::function<void()>& waiting) = 0;
  // Records (row batches, descriptor versions) of a held table, in order; durable once
  // SyncHeld returns. Capture syncs them before appending anything that follows them.
  virtual Status Hold(Oid relation, std::span<const spool::Record> records) = 0;
  virtual Status SyncHeld() = 0;
  // The held changes use their whole disk budget: Capture stops reading (between
  // transactions) and calls CopyPending until a copy ends and frees it.
  virtual bool HeldBudgetReached() = 0;
};

// The relation id of pg2bq.logical_messages: 0 is never a PostgreSQL relation OID.
inline constexpr Oid kLogicalMessagesRelation = 0;
// The prefix of the agent's heartbeat messages (replication.heartbeat_interval).
inline constexpr std::string_view kHeartbeatPrefix = "pg2bq_heartbeat";

struct CaptureOptions {
  ReplicationStreamOptions stream;
  std::string sql_dsn;  // plain connection: catalog lookups, unchanged TOAST values
  TablesConfig tables;
  TruncateMode truncate = TruncateMode::kDeleteKeys;
  std::size_t group_max_bytes = 8 << 20;
  std::size_t group_max_rows = 50000;  // flush.batch_max_rows; 0 = no row limit
  sink::EncodePolicies policies;
  // pg_logical_emit_message() payloads into the change-log table pg2bq.logical_messages
  // (replication.logical_messages = pass; the stream must ask for messages).
  bool pass_messages = false;
  // Emit a non-transactional heartbeat message this often (0 = never), so WAL written to
  // other databases or unpublished tables is released even when nothing of ours changes.
  std::chrono::milliseconds heartbeat_interval{0};
  TableSyncHook* table_sync = nullptr;  // null: no copies at run time
  // Per table: changes committed before this LSN are already in the table's snapshot copy.
  std::unordered_map<Oid, Lsn> apply_from;
  // Copies already running when streaming starts (TableSync::Bootstrap): taken like an
  // answer of CopyPending before the first change is read, so their tables are held from it.
  std::vector<TableSyncChange> at_start;
};

class Capture : public ChangeHandler {
 public:
  Capture(CaptureOptions options, spool::SpoolWriter* spool, DescriptorStore* descriptors,
          sink::DeadLetterWriter* dead_letters, PipelineMetrics* metrics,
          const Cancellation* cancel);
  ~Capture() override;

  // Connects and validates the source (wal_level, slot, publication).
  Status Start();
  // SIGHUP: the reloadable settings (flush.batch_max_bytes / batch_max_rows,
  // replication.heartbeat_interval); safe to call from any thread.
  void SetReloadable(std::size_t group_max_bytes, std::size_t group_max_rows,
                     std::chrono::milliseconds heartbeat_interval);

  // Reads until cancelled or a fatal error; appends what it holds and reports the final
  // durable position before returning. Returns Ok on cancellation.
  Status Run();

  // ChangeHandler.
  Status OnBegin(const TransactionBegin& begin) override;
  Status OnCommit(const TransactionEnd& end) override;
  Status OnRelation(const Relation& relation, bool schema_changed) override;
  Status OnChange(const Change& change) override;
  Status OnStreamStart(Xid xid, bool first_segment) override;

 private:
  struct Table {
    bool selected = false;
    std::string name;  // schema.table
    sink::SourceRelation source;
    std::shared_ptr<const sink::TableDescriptor> descriptor;
    std::unique_ptr<sink::RowEncoder> encoder;
    sink::EncodedBatch batch;  // open rows, not yet in group_
    Lsn first_commit = kInvalidLsn, last_commit = kInvalidLsn;
    // Where the open transaction's rows start in `batch` (rolled back on reconnect).
    bool txn_marked = false;
    std::size_t txn_bytes = 0, txn_rows = 0;
  };

  Status ResetDecoder();
  Status HandleTruncate(const Change& change, Table* table);
  Status EncodeRow(const Change& change, Table* table);
  // The part of OnRelation shared with the logical-messages table: version the shape,
  // spool the descriptor, make the encoder.
  Status AdoptDescriptor(Table* table, sink::SourceRelation source);
  Status HandleMessage(const Change& change);
  void MaybeHeartbeat();
  // Appends the group once it holds group_max_bytes or group_max_rows.
  Status AppendIfFull();
  Status ResolveUnchanged(const Change& change, Table* table,
                          const std::vector<std::size_t>& columns, bool* row_exists);
  // Waits until the open transaction is visible to other sessions (see the .cc).
  Status AwaitTransactionVisible();
  Result<sink::SourceColumn> DescribeColumn(const RelationColumn& column);
  void CloseBatch(Table* table);
  // Appends group_ (all tables' open rows) to the spool. `complete` = the LSN the group
  // completes (kInvalidLsn: none).
  Status AppendGroup();
  void ReportProgress();
  Status Sql(SqlSession** out);
  Status RunTableSync();
  void ApplyTableSyncChanges(const std::vector<TableSyncChange>& changes);
  // Between transactions, with the group appended: waits while
  // TableSyncHook::HeldBudgetReached.
  Status WaitForHeldBudget();

  CaptureOptions options_;
  spool::SpoolWriter* spool_;
  DescriptorStore* descriptors_;
  sink::DeadLetterWriter* dead_letters_;
  PipelineMetrics* metrics_;
  const Cancellation* cancel_;

  std::unique_ptr<ReplicationStream> stream_;
  std::unique_ptr<PgoutputDecoder> decoder_;
  std::unique_ptr<SqlSession> sql_;
  std::unordered_map<Oid, Table> tables_;
  std::unordered_map<Oid, sink::SourceColumn> type_cache_;
  std::unordered_map<Oid, Lsn> apply_from_;  // see CaptureOptions::apply_from
  std::unordered_set<Oid> held_;             // see TableSyncChange::held
  std::vector<spool::Record> main_;          // AppendGroup: what goes to the spool

  std::vector<spool::Record> group_;
  std::size_t group_bytes_ = 0;  // group_ + open batches
  std::size_t group_rows_ = 0;   // rows in group_ + open batches

  Table messages_;  // pg2bq.logical_messages (pass_messages)
  std::string message_content_;
  std::chrono::steady_clock::time_point last_heartbeat_{};
  bool heartbeat_failing_ = false;
  std::atomic<std::size_t> group_max_bytes_{0}, group_max_rows_{0};  // SetReloadable
  std::atomic<std::int64_t> heartbeat_ms_{0};

  // Transaction state.
  bool in_txn_ = false;
  bool skip_txn_ = false;
  Lsn txn_commit_lsn_ = kInvalidLsn;
  std::int64_t txn_commit_time_us_ = 0;
  Xid txn_xid_ = kInvalidXid;
  bool txn_visible_ = false;  // AwaitTransactionVisible succeeded for this transaction
  std::vector<Table*> txn_tables_;

  Lsn committed_lsn_ = kInvalidLsn;  // last commit whose rows are all in group_/batches/spool
  Lsn appended_lsn_ = kInvalidLsn;   // last commit fully appended to the spool
  Lsn skip_through_ = kInvalidLsn;   // drop transactions with commit LSN <= this
  Lsn idle_confirm_ = kInvalidLsn;   // a position with nothing pending behind it

  std::vector<sink::SourceValue> new_values_, old_values_;
  std::vector<std::string> resolved_;  // storage for unchanged TOAST values read back
};

}  // namespace pg2bq::agent::pipeline
