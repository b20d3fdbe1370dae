// Durable state of the emulator in one SQLite database (DIR/bq-emulator.sqlite,
// WAL mode): datasets, tables (their REST resource), visible rows, write
// streams and the not-yet-visible rows of PENDING/BUFFERED streams.
//
// Every mutating call is one SQLite transaction, committed before the caller
// acknowledges anything to a client, so an acknowledged append survives a
// kill -9. One connection per Store, guarded by a mutex: appenders from many
// gRPC threads are serialized here. `dump` opens the same file read-only and
// works while a server runs (WAL readers do not block the writer).
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "tests/bq_emulator/table_schema.h"
#include "tests/bq_emulator/writer_schema.h"

namespace pg2bq::bqemu {

class StmtCache;

struct TableInfo {
  int64_t id = 0;
  TableId ref;
  nlohmann::json resource;  // the REST Table resource as tables.get returns it
  TableSchema schema;
  int64_t schema_version = 0;  // bumped whenever columns are added
};

enum class StreamType { kCommitted = 1, kPending = 2, kBuffered = 3 };
enum class StreamState { kOpen = 0, kFinalized = 1, kCommitted = 2 };

struct StreamInfo {
  std::string name;  // full resource name
  int64_t table_id = 0;
  StreamType type = StreamType::kCommitted;
  StreamState state = StreamState::kOpen;
  int64_t row_count = 0;     // rows appended so far (next expected offset)
  int64_t flushed_rows = 0;  // BUFFERED: rows made visible by FlushRows
  int64_t create_micros = 0;
  int64_t commit_micros = 0;
};

// Outcome of appending one request's rows (already validated).
enum class AppendOutcome {
  kOk,
  kOffsetAlreadyExists,
  kOffsetOutOfRange,
  kStreamNotFound,
  kStreamNotOpen,
  kTableNotFound
};

struct AppendResult {
  AppendOutcome outcome = AppendOutcome::kOk;
  int64_t first_offset = 0;  // offset of the first appended row (explicit streams)
  int64_t stream_rows = 0;   // the stream's row count before this append
};

class TableStore {
 public:
  struct Options {
    bool keep_tombstones = false;  // keep deleted keys forever (see docs/EMULATOR.md)
    bool read_only = false;
  };
  static Result<std::unique_ptr<TableStore>> Open(const std::string& dir, Options options);
  ~TableStore();
  TableStore(const TableStore&) = delete;
  TableStore& operator=(const TableStore&) = delete;

  Result<nlohmann::json> GetDataset(const std::string& project, const std::string& dataset);
  Result<nlohmann::json> InsertDataset(const std::string& project, nlohmann::json resource);

  Result<TableInfo> GetTable(const TableId& id);
  Result<TableInfo> GetTableById(int64_t id);
  Result<TableInfo> InsertTable(const TableId& id, nlohmann::json resource);
  // PATCH merges the given top-level members; PUT (replace) swaps the mutable
  // ones. Columns may only be added (relaxing REQUIRED->NULLABLE is allowed).
  Result<TableInfo> UpdateTable(const TableId& id, const nlohmann::json& update, bool replace);
  Status DeleteTable(const TableId& id);

  Result<int64_t> CountRows(int64_t table_id);
  // Visible rows (no tombstones) in ingestion order, [start, start+limit).
  Result<std::vector<nlohmann::json>> ListRows(int64_t table_id, int64_t start, int64_t limit);

  Result<StreamInfo> CreateStream(const TableInfo& table, StreamType type);
  Result<StreamInfo> GetStream(const std::string& name);
  // Appends `row_count` rows to an explicit stream, checking `offset` (when
  // set) against the stream's row count. `rows` holds them, or is empty when
  // rows are not kept (no-storage mode: only the stream's count advances).
  Result<AppendResult> AppendToStream(const std::string& name, std::optional<int64_t> offset,
                                      const std::vector<DecodedRow>& rows, int64_t row_count);
  Result<int64_t> SchemaVersion(int64_t table_id);
  // Appends to the _default stream: plain rows and CDC rows (UPSERT/DELETE,
  // highest _CHANGE_SEQUENCE_NUMBER per key wins, ties to the later row).
  Status AppendToDefault(const TableInfo& table, const std::vector<DecodedRow>& rows);
  Result<StreamInfo> FinalizeStream(const std::string& name);
  // Makes the rows of finalized PENDING streams visible in one transaction.
  // Per-stream problems are returned as (stream, storage error code, message).
  struct CommitError {
    std::string stream;
    int code;
    std::string message;
  };
  Result<std::vector<CommitError>> BatchCommit(const TableId& parent,
                                               const std::vector<std::string>& streams,
                                               int64_t commit_micros);
  // BUFFERED: makes rows [0, offset] visible. Returns the flushed offset;
  // *out_of_range tells an offset past the stream's end from other failures.
  Result<int64_t> FlushRows(const std::string& name, int64_t offset, bool* out_of_range);

 private:
  TableStore(sqlite3* db, Options options);
  Status Exec(const char* sql);
  Result<TableInfo> LoadTable(sqlite3_stmt* stmt);
  Status InsertVisible(const TableInfo& table, const DecodedRow& row);
  Status ApplyChange(const TableInfo& table, const DecodedRow& row);

  std::mutex mu_;
  std::atomic<uint64_t> stream_counter_{0};
  sqlite3* db_;
  std::unique_ptr<StmtCache> cache_;  // finalized before db_ is closed
  Options options_;
};

// "[1,\"a\"]": the canonical text of a row's primary key values, used to find
// the row of a key; empty when the table has no primary key.
std::string PrimaryKeyText(const TableSchema& schema, const nlohmann::json& values);

int64_t NowMicros();

}  // namespace pg2bq::bqemu
