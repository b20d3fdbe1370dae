// TableCopier: copies one chunk of a table, read inside an exported snapshot, into the
// spool as the same RowBatch records the stream produces (docs/SNAPSHOT.md).
//
// A CopySession is one connection in a transaction that imported the snapshot
// (BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '...'), so
// several chunks of one table, or several tables, are copied in parallel and all see the
// same database state. A copy worker keeps its session for every chunk it takes: a new
// connection per chunk cost a backend start and a SCRAM exchange each (bench/RESULTS.md).
// Rows come from `COPY (SELECT cols FROM t WHERE <chunk>) TO STDOUT
// (FORMAT binary)`, are parsed by BinaryCopyParser and handed to the sink's RowEncoder as
// binary column values (ValueState::kBinary), i.e. exactly as a binary-mode pgoutput
// INSERT would be.
//
// Sequence numbers: every copied row carries commit LSN = snapshot LSN - 1, ordinal 0.
// The snapshot contains exactly the transactions that committed before the snapshot LSN
// (the slot's consistent point), and every streamed transaction that is not in it has a
// commit LSN >= the snapshot LSN, so any streamed change to the same key wins, including
// one that commits exactly at the snapshot LSN. Copied rows have distinct keys, so they
// never compete with each other; a chunk re-copied after a crash writes the same rows with
// the same sequence numbers, which BigQuery's UPSERT makes harmless (keyless tables are in
// change-log mode, where a re-copied chunk duplicates rows: docs/SNAPSHOT.md).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "agent/cancellation.h"
#include "agent/pg_connection.h"
#include "agent/snapshot/binary_copy_parser.h"
#include "agent/snapshot/spool_append.h"
#include "common/lsn.h"
#include "common/status.h"
#include "sink/dead_letter.h"
#include "sink/encode_policies.h"
#include "sink/source_relation.h"
#include "sink/table_descriptor.h"
#include "spool/spool_writer.h"

namespace pg2bq::agent::snapshot {

// A range of heap pages [first_page, end_page); end_page 0 = to the end of the table.
// ctid ranges work for every table (with or without a key) and, since PostgreSQL 14, are
// answered by a TID range scan that reads only those pages.
struct CopyChunk {
  std::uint64_t first_page = 0;
  std::uint64_t end_page = 0;

  std::string Predicate() const;
};

// Counters one copy updates while it runs (read by progress reporting from other threads).
struct CopyProgress {
  std::atomic<std::uint64_t> rows{0};
  std::atomic<std::uint64_t> bytes{0};  // binary COPY bytes received
  std::atomic<std::uint64_t> rejected{0};
};

struct TableCopierOptions {
  std::string dsn;            // plain (non-replication) connection to the source database
  std::string snapshot_name;  // from CREATE_REPLICATION_SLOT ... EXPORT_SNAPSHOT
  Lsn snapshot_lsn = kInvalidLsn;
  // Change-log (keyless) tables: the target's key is `_pg2bq_lsn` (COMMITLSN/ORDINAL), so
  // each copied row needs a distinct, deterministic sequence: commit LSN `row_commit_lsn`
  // (the table's oldest snapshot - 1) and ordinal = ctid (block * 65536 + offset). A chunk
  // copied again after a crash then overwrites the same rows instead of duplicating them.
  bool ctid_ordinals = false;
  Lsn row_commit_lsn = kInvalidLsn;  // kInvalidLsn: snapshot_lsn - 1
  sink::SourceRelation relation;     // columns in attribute order
  std::string row_filter;            // the publication's row filter, "" = every row
  std::shared_ptr<const sink::TableDescriptor> descriptor;
  sink::EncodePolicies policies;
  // Rows the encoder cannot represent under `policies` go here (synced before the chunk
  // counts as copied). Without a writer such a row fails the copy: nothing is dropped
  // silently.
  sink::DeadLetterWriter* dead_letters = nullptr;
  std::size_t batch_max_bytes = 4 << 20;        // encoded rows per spool RowBatch
  std::chrono::milliseconds io_timeout{60000};  // longest silence from the server
  // How long to keep retrying an append while the spool's disk budget is full before
  // failing (the flusher frees space as BigQuery acknowledges).
  std::chrono::milliseconds budget_patience = kCopyBudgetPatience;
};

// One worker's connection inside the exported snapshot, reused across its chunks. After a
// failed chunk it is broken (the COPY may have stopped half-way) and must be replaced.
class CopySession {
 public:
  static Result<std::unique_ptr<CopySession>> Open(const std::string& dsn,
                                                   const std::string& snapshot_name,
                                                   std::chrono::milliseconds io_timeout,
                                                   const Cancellation* cancel);
  ~CopySession();
  CopySession(const CopySession&) = delete;
  CopySession& operator=(const CopySession&) = delete;

  PgConnection* connection() const { return conn_.get(); }
  bool broken() const { return broken_; }
  void MarkBroken() { broken_ = true; }

 private:
  explicit CopySession(std::unique_ptr<PgConnection> conn);

  std::unique_ptr<PgConnection> conn_;
  bool broken_ = false;
};

class TableCopier {
 public:
  TableCopier(TableCopierOptions options, spool::SpoolWriter* spool, const Cancellation* cancel);

  // Copies one chunk. Rows are appended to the spool as they are encoded; on failure the
  // rows already appended stay there (harmless: re-copying the chunk rewrites them).
  Status CopyChunk(const CopyChunk& chunk, CopyProgress* progress);
  // The same on `session` (opened on this copier's dsn and snapshot), which stays usable
  // for the next chunk unless this one fails.
  Status CopyChunk(const struct CopyChunk& chunk, CopySession* session, CopyProgress* progress);
  // A session for this copier's snapshot.
  Result<std::unique_ptr<CopySession>> OpenSession() const;

  // The COPY statement for a chunk (exposed for tests and the benchmark).
  std::string CopySql(const struct CopyChunk& chunk, const std::string& quoted_table,
                      const std::string& quoted_columns) const;

 private:
  Status AppendBatch(std::uint32_t rows, std::string* proto_rows);
  // The commit LSN every copied row carries (see ctid_ordinals).
  Lsn RowCommitLsn() const;
  Result<std::uint64_t> CtidOrdinal(const CopyField& field);
  Status CopyChunkOn(const struct CopyChunk& chunk, const std::string& what, PgConnection* conn,
                     CopyProgress* progress);

  TableCopierOptions options_;
  spool::SpoolWriter* spool_;
  const Cancellation* cancel_;
};

}  // namespace pg2bq::agent::snapshot
