// BigQuery table management over the REST API (v2): create the dataset and the table when
// missing (primary key NOT ENFORCED, max_staleness, clustering on the key), add new nullable
// columns before rows that use them are sent, and refuse -- with a message that says what
// and why -- a change BigQuery cannot follow. Same token source as the gRPC writer.
#pragma once

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"
#include "sink/credentials.h"
#include "sink/table_descriptor.h"

namespace pg2bq::sink {

struct TableManagerOptions {
  std::string base_url = "https://bigquery.googleapis.com";  // emulator: "http://127.0.0.1:Q"
  std::shared_ptr<TokenSource> tokens;                       // null for the emulator
  std::string project, dataset;
  std::string location;       // dataset location when creating it ("" = BigQuery's default)
  std::string max_staleness;  // INTERVAL literal, e.g. "0-0 0 0:15:0"; "" = not set
  std::chrono::seconds timeout{30};
};

// What EnsureTable did.
struct TableSync {
  bool created_dataset = false;
  bool created_table = false;
  std::vector<std::string> added_columns;
};

// Pure schema comparison (exposed for tests): which fields of `wanted` (REST TableSchema) are
// missing from `existing`, or a FailedPrecondition naming the first incompatible column (type
// or mode change, or a key change on a CDC table).
Result<std::vector<nlohmann::json>> ColumnsToAdd(const nlohmann::json& existing,
                                                 const nlohmann::json& wanted);

class TableManager {
 public:
  explicit TableManager(TableManagerOptions options) : options_(std::move(options)) {}

  // The BigQuery table id for a PostgreSQL table: "<schema>_<table>" ("public" is dropped).
  static std::string TableIdFor(const TableDescriptor& d);
  // "projects/P/datasets/D/tables/T" (the Storage Write API's table path).
  std::string TablePath(const std::string& table_id) const;

  // Makes the table match `d`: creates dataset/table if missing, adds missing columns.
  Result<TableSync> EnsureTable(const TableDescriptor& d);

  // Does the target answer for this project and dataset? Ok when the dataset exists or may
  // be created (404); PermissionDenied/InvalidArgument for rejected credentials or names;
  // Unavailable when BigQuery cannot be reached.
  Status CheckDataset();

  // GET the table resource (NotFound when absent).
  Result<nlohmann::json> GetTable(const std::string& table_id);

 private:
  struct Response {
    int status = 0;
    std::string body;
  };
  Result<Response> Call(const std::string& method, const std::string& path,
                        const nlohmann::json* body);
  Status EnsureDataset(TableSync* sync);
  static Status HttpError(const std::string& what, const Response& r);

  TableManagerOptions options_;
};

}  // namespace pg2bq::sink
