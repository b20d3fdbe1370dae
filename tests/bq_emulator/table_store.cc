#include "tests/bq_emulator/table_store.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <unordered_map>

#include "tests/bq_emulator/change_sequence.h"

namespace pg2bq::bqemu {
namespace {

using nlohmann::json;

}  // namespace

// Prepared statements, kept for the life of the connection: preparing each
// statement per row cost more than executing it. Used only under
// TableStore::mu_.
class StmtCache {
 public:
  explicit StmtCache(sqlite3* db) : db_(db) {}
  ~StmtCache() {
    for (auto& [sql, entry] : cache_)
      sqlite3_finalize(entry.stmt);
  }
  sqlite3* db() const { return db_; }
  // A prepared statement for `sql`, or nullptr with rc set. A statement still
  // in use (a nested use of the same SQL) gets a private copy (*owned = true).
  sqlite3_stmt* Acquire(const char* sql, int* rc, bool* owned) {
    auto& entry = cache_[sql];
    *owned = false;
    if (entry.stmt && !entry.busy) {
      entry.busy = true;
      *rc = SQLITE_OK;
      return entry.stmt;
    }
    sqlite3_stmt* stmt = nullptr;
    *rc = sqlite3_prepare_v3(db_, sql, -1, entry.stmt ? 0 : SQLITE_PREPARE_PERSISTENT, &stmt,
                             nullptr);
    if (*rc != SQLITE_OK) return nullptr;
    if (!entry.stmt) {
      entry.stmt = stmt;
      entry.busy = true;
    } else {
      *owned = true;
    }
    return stmt;
  }
  void Release(const char* sql) { cache_[sql].busy = false; }

 private:
  struct Entry {
    sqlite3_stmt* stmt = nullptr;
    bool busy = false;
  };
  sqlite3* db_;
  std::unordered_map<std::string, Entry> cache_;
};

namespace {

// A borrowed prepared statement, reset (and its bindings cleared) when it
// goes out of scope so it holds no read snapshot; errors carry SQLite's text.
class Stmt {
 public:
  Stmt(StmtCache& cache, const char* sql) : cache_(cache), sql_(sql) {
    stmt_ = cache.Acquire(sql, &rc_, &owned_);
  }
  ~Stmt() {
    if (!stmt_) return;
    if (owned_) {
      sqlite3_finalize(stmt_);
    } else {
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
      cache_.Release(sql_);
    }
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Status status() const {
    return rc_ == SQLITE_OK
               ? Status::Ok()
               : Status::IoError(std::string("sqlite prepare: ") + sqlite3_errmsg(cache_.db()));
  }
  Stmt& Bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Stmt& Bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& BindNull(int i) {
    sqlite3_bind_null(stmt_, i);
    return *this;
  }
  // SQLITE_ROW -> true, SQLITE_DONE -> false.
  Result<bool> Step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return Status::IoError(std::string("sqlite step: ") + sqlite3_errmsg(cache_.db()));
  }
  Status Run() {
    auto r = Step();
    return r.ok() ? Status::Ok() : r.status();
  }
  void Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  int64_t Int(int col) { return sqlite3_column_int64(stmt_, col); }
  std::string Text(int col) {
    const unsigned char* p = sqlite3_column_text(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string();
  }
  sqlite3_stmt* raw() { return stmt_; }

 private:
  StmtCache& cache_;
  const char* sql_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_ = SQLITE_OK;
  bool owned_ = false;
};

// BEGIN IMMEDIATE ... COMMIT, rolled back unless Commit() succeeded.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) {
    char* err = nullptr;
    rc_ = sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, &err);
    sqlite3_free(err);
  }
  ~Transaction() {
    if (rc_ == SQLITE_OK && !done_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  Status status() const {
    return rc_ == SQLITE_OK ? Status::Ok()
                            : Status::IoError(std::string("sqlite begin: ") + sqlite3_errmsg(db_));
  }
  Status Commit() {
    char* err = nullptr;
    int rc = sqlite3_exec(db_, "COMMIT", nullptr, nullptr, &err);
    std::string msg = err ? err : "";
    sqlite3_free(err);
    if (rc != SQLITE_OK) return Status::IoError("sqlite commit: " + msg);
    done_ = true;
    return Status::Ok();
  }

 private:
  sqlite3* db_;
  int rc_;
  bool done_ = false;
};

constexpr const char* kSchemaSql = R"sql(
CREATE TABLE IF NOT EXISTS datasets(
  project TEXT NOT NULL, dataset TEXT NOT NULL, resource TEXT NOT NULL,
  PRIMARY KEY(project, dataset));
CREATE TABLE IF NOT EXISTS tables(
  id INTEGER PRIMARY KEY AUTOINCREMENT, project TEXT NOT NULL, dataset TEXT NOT NULL,
  name TEXT NOT NULL, resource TEXT NOT NULL, schema_version INTEGER NOT NULL DEFAULT 0,
  UNIQUE(project, dataset, name));
CREATE TABLE IF NOT EXISTS rows(
  id INTEGER PRIMARY KEY AUTOINCREMENT, table_id INTEGER NOT NULL, pk TEXT,
  seq TEXT, deleted INTEGER NOT NULL DEFAULT 0, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS rows_by_key ON rows(table_id, pk);
CREATE TABLE IF NOT EXISTS streams(
  name TEXT PRIMARY KEY, table_id INTEGER NOT NULL, type INTEGER NOT NULL,
  state INTEGER NOT NULL, row_count INTEGER NOT NULL, flushed_rows INTEGER NOT NULL,
  create_micros INTEGER NOT NULL, commit_micros INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS stream_rows(
  stream TEXT NOT NULL, offset INTEGER NOT NULL, data TEXT NOT NULL,
  PRIMARY KEY(stream, offset));
)sql";

std::string StreamTail(const std::string& name) {
  size_t slash = name.rfind('/');
  return slash == std::string::npos ? name : name.substr(slash + 1);
}

Status NotFoundTable(const TableId& id) {
  return Status::NotFound("Not found: Table " + id.project + ":" + id.dataset + "." + id.table);
}

}  // namespace

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string PrimaryKeyText(const TableSchema& schema, const json& values) {
  if (schema.primary_key.empty()) return "";
  json key = json::array();
  for (const auto& col : schema.primary_key) {
    auto it = values.find(col);
    key.push_back(it == values.end() ? json(nullptr) : *it);
  }
  return key.dump();
}

Result<std::unique_ptr<TableStore>> TableStore::Open(const std::string& dir, Options options) {
  std::error_code ec;
  if (!options.read_only) std::filesystem::create_directories(dir, ec);
  std::string path = dir + "/bq-emulator.sqlite";
  if (options.read_only && !std::filesystem::exists(path)) {
    return Status::NotFound("no emulator state at " + path);
  }
  sqlite3* db = nullptr;
  int flags =
      options.read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  flags |= SQLITE_OPEN_FULLMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Status::IoError("cannot open " + path + ": " + msg);
  }
  sqlite3_busy_timeout(db, 10000);
  std::unique_ptr<TableStore> store(new TableStore(db, options));
  if (!options.read_only) {
    // WAL + synchronous=NORMAL: a committed transaction survives the process
    // being killed (kill -9), which is what the emulator promises; an OS crash
    // may lose the last transactions.
    PG2BQ_RETURN_IF_ERROR(store->Exec("PRAGMA journal_mode=WAL"));
    PG2BQ_RETURN_IF_ERROR(store->Exec("PRAGMA synchronous=NORMAL"));
    PG2BQ_RETURN_IF_ERROR(store->Exec(kSchemaSql));
  }
  return store;
}

TableStore::TableStore(sqlite3* db, Options options)
    : db_(db), cache_(std::make_unique<StmtCache>(db)), options_(options) {}

TableStore::~TableStore() {
  cache_.reset();  // statements must be finalized before the connection closes
  sqlite3_close(db_);
}

Status TableStore::Exec(const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  std::string msg = err ? err : "";
  sqlite3_free(err);
  if (rc != SQLITE_OK) return Status::IoError("sqlite: " + msg);
  return Status::Ok();
}

Result<json> TableStore::GetDataset(const std::string& project, const std::string& dataset) {
  std::lock_guard lock(mu_);
  Stmt s(*cache_, "SELECT resource FROM datasets WHERE project=? AND dataset=?");
  PG2BQ_RETURN_IF_ERROR(s.status());
  s.Bind(1, project).Bind(2, dataset);
  PG2BQ_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return Status::NotFound("Not found: Dataset " + project + ":" + dataset);
  return json::parse(s.Text(0));
}

Result<json> TableStore::InsertDataset(const std::string& project, json resource) {
  std::lock_guard lock(mu_);
  std::string dataset = resource["datasetReference"]["datasetId"].get<std::string>();
  resource["datasetReference"]["projectId"] = project;
  resource["id"] = project + ":" + dataset;
  resource["kind"] = "bigquery#dataset";
  resource["creationTime"] = std::to_string(NowMicros() / 1000);
  resource["lastModifiedTime"] = resource["creationTime"];
  if (!resource.contains("location")) resource["location"] = "US";
  resource["selfLink"] = "/bigquery/v2/projects/" + project + "/datasets/" + dataset;
  resource["etag"] = std::to_string(NowMicros());
  Stmt s(*cache_, "INSERT OR IGNORE INTO datasets(project, dataset, resource) VALUES(?,?,?)");
  PG2BQ_RETURN_IF_ERROR(s.status());
  s.Bind(1, project).Bind(2, dataset).Bind(3, resource.dump());
  PG2BQ_RETURN_IF_ERROR(s.Run());
  if (sqlite3_changes(db_) == 0) {
    return Status::FailedPrecondition("Already Exists: Dataset " + project + ":" + dataset);
  }
  return resource;
}

Result<TableInfo> TableStore::LoadTable(sqlite3_stmt* stmt) {
  TableInfo t;
  t.id = sqlite3_column_int64(stmt, 0);
  t.ref.project = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 1));
  t.ref.dataset = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 2));
  t.ref.table = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 3));
  t.resource = json::parse(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 4)));
  t.schema_version = sqlite3_column_int64(stmt, 5);
  PG2BQ_ASSIGN_OR_RETURN(t.schema, TableSchemaFromResource(t.resource));
  return t;
}

Result<TableInfo> TableStore::GetTable(const TableId& id) {
  std::lock_guard lock(mu_);
  Stmt s(*cache_,
         "SELECT id, project, dataset, name, resource, schema_version FROM tables "
         "WHERE project=? AND dataset=? AND name=?");
  PG2BQ_RETURN_IF_ERROR(s.status());
  s.Bind(1, id.project).Bind(2, id.dataset).Bind(3, id.table);
  PG2BQ_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return NotFoundTable(id);
  return LoadTable(s.raw());
}

Result<TableInfo> TableStore::GetTableById(int64_t id) {
  std::lock_guard lock(mu_);
  Stmt s(*cache_,
         "SELECT id, project, dataset, name, resource, schema_version FROM tables WHERE id=?");
  PG2BQ_RETURN_IF_ERROR(s.status());
  s.Bind(1, id);
  PG2BQ_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return Status::NotFound("Not found: Table with id " + std::to_string(id));
  return LoadTable(s.raw());
}

Result<TableInfo> TableStore::InsertTable(const TableId& id, json resource) {
  PG2BQ_ASSIGN_OR_RETURN(TableSchema schema, TableSchemaFromResource(resource));
  (void)schema;
  {
    auto ds = GetDataset(id.project, id.dataset);
    if (!ds.ok()) return ds.status();
  }
  std::lock_guard lock(mu_);
  std::string now = std::to_string(NowMicros() / 1000);
  resource["tableReference"] = {
      {"projectId", id.project}, {"datasetId", id.dataset}, {"tableId", id.table}};
  resource["id"] = id.project + ":" + id.dataset + "." + id.table;
  resource["kind"] = "bigquery#table";
  resource["type"] = "TABLE";
  resource["creationTime"] = now;
  resource["lastModifiedTime"] = now;
  resource["location"] = "US";
  resource["selfLink"] =
      "/bigquery/v2/projects/" + id.project + "/datasets/" + id.dataset + "/tables/" + id.table;
  resource["etag"] = std::to_string(NowMicros());
  if (resource.contains("schema") && resource["schema"].contains("fields")) {
    resource["schema"]["fields"] = ColumnsToRest(schema.columns);
  }
  Stmt s(*cache_, "INSERT OR IGNORE INTO tables(project, dataset, name, resource) VALUES(?,?,?,?)");
  PG2BQ_RETURN_IF_ERROR(s.status());
  s.Bind(1, id.project).Bind(2, id.dataset).Bind(3, id.table).Bind(4, resource.dump());
  PG2BQ_RETURN_IF_ERROR(s.Run());
  if (sqlite3_changes(db_) == 0) {
    return Status::FailedPrecondition("Already Exists: Table " + id.project + ":" + id.dataset +
                                      "." + id.table);
  }
  TableInfo t;
  t.id = sqlite3_last_insert_rowid(db_);
  t.ref = id;
  t.resource = std::move(resource);
  t.schema = std::move(schema);
  return t;
}

namespace {

// BigQuery allows only additive schema changes: every old column must still
// be there with the same type, mode REQUIRED may become NULLABLE, new columns
// must be NULLABLE or REPEATED.
Status CheckSchemaEvolution(const std::vector<Column>& before, const std::vector<Column>& after,
                            const std::string& path, bool* added) {
  for (const auto& old : before) {
    const Column* now = nullptr;
    for (const auto& c : after) {
      if (c.name == old.name) now = &c;
    }
    if (!now) {
      return Status::InvalidArgument("Provided Schema does not match Table. Field " + path +
                                     old.name + " is missing in new schema");
    }
    if (now->type != old.type) {
      return Status::InvalidArgument("Provided Schema does not match Table. Field " + path +
                                     old.name + " has changed type from " +
                                     ColumnTypeSqlName(old.type) + " to " +
                                     ColumnTypeSqlName(now->type));
    }
    bool relax = old.mode == ColumnMode::kRequired && now->mode == ColumnMode::kNullable;
    if (now->mode != old.mode && !relax) {
      return Status::InvalidArgument("Provided Schema does not match Table. Field " + path +
                                     old.name + " has changed mode");
    }
    if (old.type == ColumnType::kStruct) {
      PG2BQ_RETURN_IF_ERROR(
          CheckSchemaEvolution(old.fields, now->fields, path + old.name + ".", added));
    }
  }
  for (const auto& c : after) {
    bool existed = false;
    for (const auto& old : before)
      existed = existed || old.name == c.name;
    if (existed) continue;
    if (c.mode == ColumnMode::kRequired) {
      return Status::InvalidArgument(
          "Provided Schema does not match Table. Cannot add required field " + path + c.name);
    }
    *added = true;
  }
  return Status::Ok();
}

}  // namespace

Result<TableInfo> TableStore::UpdateTable(const TableId& id, const json& update, bool replace) {
  PG2BQ_ASSIGN_OR_RETURN(TableInfo table, GetTable(id));
  json resource = table.resource;
  static const char* kMutable[] = {"schema",           "description",   "friendlyName",
                                   "labels",           "maxStaleness",  "clustering",
                                   "tableConstraints", "expirationTime"};
  for (const char* key : kMutable) {
    if (update.contains(key)) {
      resource[key] = update[key];
    } else if (replace && std::string(key) != "schema") {
      resource.erase(key);
    }
  }
  PG2BQ_ASSIGN_OR_RETURN(TableSchema schema, TableSchemaFromResource(resource));
  bool added = false;
  PG2BQ_RETURN_IF_ERROR(CheckSchemaEvolution(table.schema.columns, schema.columns, "", &added));
  if (resource.contains("schema") && resource["schema"].contains("fields")) {
    resource["schema"]["fields"] = ColumnsToRest(schema.columns);
  }
  resource["lastModifiedTime"] = std::to_string(NowMicros() / 1000);
  resource["etag"] = std::to_string(NowMicros());
  std::lock_guard lock(mu_);
  Stmt s(*cache_, "UPDATE tables SET resource=?, schema_version=schema_version+? WHERE id=?");
  PG2BQ_RETURN_IF_ERROR(s.status());
  s.Bind(1, resource.dump()).Bind(2, added ? 1 : 0).Bind(3, table.id);
  PG2BQ_RETURN_IF_ERROR(s.Run());
  table.resource = std::move(resource);
  table.schema = std::move(schema);
  table.schema_version += added ? 1 : 0;
  return table;
}

Status TableStore::DeleteTable(const TableId& id) {
  PG2BQ_ASSIGN_OR_RETURN(TableInfo table, GetTable(id));
  std::lock_guard lock(mu_);
  Transaction tx(db_);
  PG2BQ_RETURN_IF_ERROR(tx.status());
  const char* sqls[] = {
      "DELETE FROM rows WHERE table_id=?",
      "DELETE FROM stream_rows WHERE stream IN (SELECT name FROM streams WHERE table_id=?)",
      "DELETE FROM streams WHERE table_id=?", "DELETE FROM tables WHERE id=?"};
  for (const char* sql : sqls) {
    Stmt s(*cache_, sql);
    PG2BQ_RETURN_IF_ERROR(s.status());
    s.Bind(1, table.id);
    PG2BQ_RETURN_IF_ERROR(s.Run());
  }
  return tx.Commit();
}

Result<int64_t> TableStore::CountRows(int64_t table_id) {
  std::lock_guard lock(mu_);
  Stmt s(*cache_, "SELECT COUNT(*) FROM rows WHERE table_id=? AND deleted=0");
  PG2BQ_RETURN_IF_ERROR(s.status());
  s.Bind(1, table_id);
  PG2BQ_RETURN_IF_ERROR(s.Step().status());
  return s.Int(0);
}

Result<std::vector<json>> TableStore::ListRows(int64_t table_id, int64_t start, int64_t limit) {
  std::lock_guard lock(mu_);
  Stmt s(*cache_,
         "SELECT data FROM rows WHERE table_id=? AND deleted=0 ORDER BY id LIMIT ? OFFSET ?");
  PG2BQ_RETURN_IF_ERROR(s.status());
  s.Bind(1, table_id).Bind(2, limit).Bind(3, start);
  std::vector<json> out;
  while (true) {
    PG2BQ_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(json::parse(s.Text(0)));
  }
  return out;
}

Result<int64_t> TableStore::SchemaVersion(int64_t table_id) {
  std::lock_guard lock(mu_);
  Stmt s(*cache_, "SELECT schema_version FROM tables WHERE id=?");
  PG2BQ_RETURN_IF_ERROR(s.status());
  s.Bind(1, table_id);
  PG2BQ_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return Status::NotFound("table id " + std::to_string(table_id));
  return s.Int(0);
}

Result<StreamInfo> TableStore::CreateStream(const TableInfo& table, StreamType type) {
  std::lock_guard lock(mu_);
  StreamInfo st;
  char tail[64];
  std::snprintf(tail, sizeof tail, "s%llx%04llx", static_cast<unsigned long long>(NowMicros()),
                static_cast<unsigned long long>(stream_counter_.fetch_add(1) & 0xFFFF));
  st.name = table.ref.ResourceName() + "/streams/" + tail;
  st.table_id = table.id;
  st.type = type;
  st.create_micros = NowMicros();
  Stmt s(*cache_,
         "INSERT INTO streams(name, table_id, type, state, row_count, flushed_rows, "
         "create_micros, commit_micros) VALUES(?,?,?,0,0,0,?,0)");
  PG2BQ_RETURN_IF_ERROR(s.status());
  s.Bind(1, st.name)
      .Bind(2, st.table_id)
      .Bind(3, static_cast<int64_t>(type))
      .Bind(4, st.create_micros);
  PG2BQ_RETURN_IF_ERROR(s.Run());
  return st;
}

namespace {
Result<StreamInfo> LoadStream(StmtCache& cache, const std::string& name) {
  Stmt s(cache,
         "SELECT table_id, type, state, row_count, flushed_rows, create_micros, commit_micros "
         "FROM streams WHERE name=?");
  PG2BQ_RETURN_IF_ERROR(s.status());
  s.Bind(1, name);
  PG2BQ_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return Status::NotFound("Requested entity was not found. Entity: " + name);
  StreamInfo st;
  st.name = name;
  st.table_id = s.Int(0);
  st.type = static_cast<StreamType>(s.Int(1));
  st.state = static_cast<StreamState>(s.Int(2));
  st.row_count = s.Int(3);
  st.flushed_rows = s.Int(4);
  st.create_micros = s.Int(5);
  st.commit_micros = s.Int(6);
  return st;
}
}  // namespace

Result<StreamInfo> TableStore::GetStream(const std::string& name) {
  std::lock_guard lock(mu_);
  return LoadStream(*cache_, name);
}

Status TableStore::InsertVisible(const TableInfo& table, const DecodedRow& row) {
  Stmt s(*cache_, "INSERT INTO rows(table_id, pk, seq, deleted, data) VALUES(?,?,?,0,?)");
  PG2BQ_RETURN_IF_ERROR(s.status());
  s.Bind(1, table.id);
  std::string pk = PrimaryKeyText(table.schema, row.values);
  if (pk.empty())
    s.BindNull(2);
  else
    s.Bind(2, pk);
  if (row.change_sequence)
    s.Bind(3, *row.change_sequence);
  else
    s.BindNull(3);
  s.Bind(4, row.values.dump());
  return s.Run();
}

Status TableStore::ApplyChange(const TableInfo& table, const DecodedRow& row) {
  std::string pk = PrimaryKeyText(table.schema, row.values);
  // The change loses if any stored version of the key (row or tombstone) has a
  // strictly higher sequence number; on a tie the later ingestion wins.
  {
    Stmt s(*cache_, "SELECT seq FROM rows WHERE table_id=? AND pk=? AND seq IS NOT NULL");
    PG2BQ_RETURN_IF_ERROR(s.status());
    s.Bind(1, table.id).Bind(2, pk);
    if (row.change_sequence) {
      auto mine = ChangeSequence::Parse(*row.change_sequence);
      if (!mine.ok()) return mine.status();
      while (true) {
        PG2BQ_ASSIGN_OR_RETURN(bool more, s.Step());
        if (!more) break;
        auto theirs = ChangeSequence::Parse(s.Text(0));
        if (theirs.ok() && theirs->Compare(*mine) > 0) return Status::Ok();
      }
    }
  }
  Stmt del(*cache_, "DELETE FROM rows WHERE table_id=? AND pk=?");
  PG2BQ_RETURN_IF_ERROR(del.status());
  del.Bind(1, table.id).Bind(2, pk);
  PG2BQ_RETURN_IF_ERROR(del.Run());
  if (*row.change_type == "UPSERT") return InsertVisible(table, row);
  if (options_.keep_tombstones && row.change_sequence) {
    Stmt s(*cache_, "INSERT INTO rows(table_id, pk, seq, deleted, data) VALUES(?,?,?,1,?)");
    PG2BQ_RETURN_IF_ERROR(s.status());
    s.Bind(1, table.id).Bind(2, pk).Bind(3, *row.change_sequence).Bind(4, row.values.dump());
    return s.Run();
  }
  return Status::Ok();
}

Status TableStore::AppendToDefault(const TableInfo& table, const std::vector<DecodedRow>& rows) {
  std::lock_guard lock(mu_);
  Transaction tx(db_);
  PG2BQ_RETURN_IF_ERROR(tx.status());
  // The table may have been deleted since the caller looked it up.
  {
    Stmt s(*cache_, "SELECT 1 FROM tables WHERE id=?");
    PG2BQ_RETURN_IF_ERROR(s.status());
    s.Bind(1, table.id);
    PG2BQ_ASSIGN_OR_RETURN(bool exists, s.Step());
    if (!exists) return NotFoundTable(table.ref);
  }
  for (const auto& row : rows) {
    PG2BQ_RETURN_IF_ERROR(row.change_type ? ApplyChange(table, row) : InsertVisible(table, row));
  }
  return tx.Commit();
}

Result<AppendResult> TableStore::AppendToStream(const std::string& name,
                                                std::optional<int64_t> offset,
                                                const std::vector<DecodedRow>& rows,
                                                int64_t row_count) {
  std::lock_guard lock(mu_);
  Transaction tx(db_);
  PG2BQ_RETURN_IF_ERROR(tx.status());
  AppendResult result;
  auto st = LoadStream(*cache_, name);
  if (!st.ok()) {
    result.outcome = AppendOutcome::kStreamNotFound;
    return result;
  }
  result.stream_rows = st->row_count;
  if (st->state != StreamState::kOpen) {
    result.outcome = AppendOutcome::kStreamNotOpen;
    return result;
  }
  if (offset && *offset < st->row_count) {
    result.outcome = AppendOutcome::kOffsetAlreadyExists;
    return result;
  }
  if (offset && *offset > st->row_count) {
    result.outcome = AppendOutcome::kOffsetOutOfRange;
    return result;
  }
  result.first_offset = st->row_count;
  if (st->type == StreamType::kCommitted) {
    Stmt s(*cache_,
           "SELECT id, project, dataset, name, resource, schema_version FROM tables WHERE id=?");
    PG2BQ_RETURN_IF_ERROR(s.status());
    s.Bind(1, st->table_id);
    PG2BQ_ASSIGN_OR_RETURN(bool exists, s.Step());
    if (!exists) {
      result.outcome = AppendOutcome::kTableNotFound;
      return result;
    }
    PG2BQ_ASSIGN_OR_RETURN(TableInfo table, LoadTable(s.raw()));
    for (const auto& row : rows)
      PG2BQ_RETURN_IF_ERROR(InsertVisible(table, row));
  } else {
    Stmt s(*cache_, "INSERT INTO stream_rows(stream, offset, data) VALUES(?,?,?)");
    PG2BQ_RETURN_IF_ERROR(s.status());
    int64_t off = st->row_count;
    for (const auto& row : rows) {
      s.Reset();
      s.Bind(1, name).Bind(2, off++).Bind(3, row.values.dump());
      PG2BQ_RETURN_IF_ERROR(s.Run());
    }
  }
  Stmt up(*cache_, "UPDATE streams SET row_count=row_count+? WHERE name=?");
  PG2BQ_RETURN_IF_ERROR(up.status());
  up.Bind(1, row_count).Bind(2, name);
  PG2BQ_RETURN_IF_ERROR(up.Run());
  PG2BQ_RETURN_IF_ERROR(tx.Commit());
  return result;
}

Result<StreamInfo> TableStore::FinalizeStream(const std::string& name) {
  std::lock_guard lock(mu_);
  PG2BQ_ASSIGN_OR_RETURN(StreamInfo st, LoadStream(*cache_, name));
  if (st.state == StreamState::kOpen) {
    Stmt s(*cache_, "UPDATE streams SET state=1 WHERE name=?");
    PG2BQ_RETURN_IF_ERROR(s.status());
    s.Bind(1, name);
    PG2BQ_RETURN_IF_ERROR(s.Run());
    st.state = StreamState::kFinalized;
  }
  return st;
}

Result<std::vector<TableStore::CommitError>> TableStore::BatchCommit(
    const TableId& parent, const std::vector<std::string>& streams, int64_t commit_micros) {
  PG2BQ_ASSIGN_OR_RETURN(TableInfo table, GetTable(parent));
  std::lock_guard lock(mu_);
  std::vector<CommitError> errors;
  std::vector<std::string> ok_streams;
  for (const auto& name : streams) {
    auto st = LoadStream(*cache_, name);
    // Codes are StorageError.StorageErrorCode values.
    if (!st.ok()) {
      errors.push_back({name, 3, "Stream not found: " + name});
    } else if (st->table_id != table.id) {
      errors.push_back(
          {name, 4, "Stream " + name + " does not belong to table " + parent.ResourceName()});
    } else if (st->type != StreamType::kPending) {
      errors.push_back({name, 4, "Stream " + name + " is not a PENDING stream"});
    } else if (st->state == StreamState::kCommitted) {
      errors.push_back({name, 2, "Stream " + name + " is already committed"});
    } else if (st->state != StreamState::kFinalized) {
      errors.push_back({name, 5, "Stream " + name + " is not finalized"});
    } else {
      ok_streams.push_back(name);
    }
  }
  // Atomic: if any stream cannot be committed, none is (commit_time unset).
  if (!errors.empty()) return errors;
  Transaction tx(db_);
  PG2BQ_RETURN_IF_ERROR(tx.status());
  for (const auto& name : ok_streams) {
    Stmt rows(*cache_, "SELECT data FROM stream_rows WHERE stream=? ORDER BY offset");
    PG2BQ_RETURN_IF_ERROR(rows.status());
    rows.Bind(1, name);
    while (true) {
      PG2BQ_ASSIGN_OR_RETURN(bool more, rows.Step());
      if (!more) break;
      DecodedRow r;
      r.values = json::parse(rows.Text(0));
      PG2BQ_RETURN_IF_ERROR(InsertVisible(table, r));
    }
    Stmt clear(*cache_, "DELETE FROM stream_rows WHERE stream=?");
    PG2BQ_RETURN_IF_ERROR(clear.status());
    clear.Bind(1, name);
    PG2BQ_RETURN_IF_ERROR(clear.Run());
    Stmt up(*cache_, "UPDATE streams SET state=2, commit_micros=? WHERE name=?");
    PG2BQ_RETURN_IF_ERROR(up.status());
    up.Bind(1, commit_micros).Bind(2, name);
    PG2BQ_RETURN_IF_ERROR(up.Run());
  }
  PG2BQ_RETURN_IF_ERROR(tx.Commit());
  return errors;
}

Result<int64_t> TableStore::FlushRows(const std::string& name, int64_t offset, bool* out_of_range) {
  *out_of_range = false;
  std::lock_guard lock(mu_);
  PG2BQ_ASSIGN_OR_RETURN(StreamInfo st, LoadStream(*cache_, name));
  if (st.type != StreamType::kBuffered) {
    return Status::InvalidArgument("FlushRows is only valid on a BUFFERED stream: " + name);
  }
  if (offset >= st.row_count) {
    *out_of_range = true;
    return Status::InvalidArgument("Offset " + std::to_string(offset) +
                                   " is beyond the end of stream " + StreamTail(name) + " (" +
                                   std::to_string(st.row_count) + " rows)");
  }
  if (offset + 1 <= st.flushed_rows) return offset;  // already visible
  Stmt ts(*cache_,
          "SELECT id, project, dataset, name, resource, schema_version FROM tables WHERE id=?");
  PG2BQ_RETURN_IF_ERROR(ts.status());
  ts.Bind(1, st.table_id);
  PG2BQ_ASSIGN_OR_RETURN(bool exists, ts.Step());
  if (!exists) return Status::NotFound("table of stream " + name + " was deleted");
  PG2BQ_ASSIGN_OR_RETURN(TableInfo table, LoadTable(ts.raw()));
  Transaction tx(db_);
  PG2BQ_RETURN_IF_ERROR(tx.status());
  Stmt rows(
      *cache_,
      "SELECT data FROM stream_rows WHERE stream=? AND offset>=? AND offset<=? ORDER BY offset");
  PG2BQ_RETURN_IF_ERROR(rows.status());
  rows.Bind(1, name).Bind(2, st.flushed_rows).Bind(3, offset);
  while (true) {
    PG2BQ_ASSIGN_OR_RETURN(bool more, rows.Step());
    if (!more) break;
    DecodedRow r;
    r.values = json::parse(rows.Text(0));
    PG2BQ_RETURN_IF_ERROR(InsertVisible(table, r));
  }
  Stmt up(*cache_, "UPDATE streams SET flushed_rows=? WHERE name=?");
  PG2BQ_RETURN_IF_ERROR(up.status());
  up.Bind(1, offset + 1).Bind(2, name);
  PG2BQ_RETURN_IF_ERROR(up.Run());
  PG2BQ_RETURN_IF_ERROR(tx.Commit());
  return offset;
}

}  // namespace pg2bq::bqemu
