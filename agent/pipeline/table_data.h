// Reads a BigQuery table's rows over REST (tabledata.list, paged), for `pg2bq verify`
// and for applying a TRUNCATE by deleting the target's keys. Values come back in
// tabledata.list's form: scalars as strings (TIMESTAMP as int64 microseconds, requested
// with formatOptions.useInt64Timestamp), REPEATED as [{"v":...}], NULL as null.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"
#include "sink/table_manager.h"

namespace pg2bq::agent::pipeline {

struct TableData {
  std::vector<std::string> columns;  // field names, in schema order
  std::vector<std::string> types;    // BigQuery types, in schema order
};

// Calls `row` for every row (values in schema order). NotFound when the table does not
// exist. `schema` receives the table's columns before the first row.
Status ListTableRows(const sink::TableManagerOptions& options, const std::string& table_id,
                     TableData* schema,
                     const std::function<Status(const std::vector<nlohmann::json>&)>& row);

// A tabledata.list scalar as PostgreSQL prints the value with TimeZone UTC and DateStyle
// ISO: TIMESTAMP (Unix microseconds, useInt64Timestamp) as "2024-01-02 03:04:05.5+00",
// DATETIME "2024-01-02T03:04:05.500000" as "2024-01-02 03:04:05.5", TIME without trailing
// fraction zeros; other types unchanged. Used to rebuild keys for TRUNCATE's deletes and
// to compare values in verify.
Result<std::string> PgTextOfTableData(const std::string& value, const std::string& bq_type);

}  // namespace pg2bq::agent::pipeline
