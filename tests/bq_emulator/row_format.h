// Renders stored rows (see docs/EMULATOR.md, "Stored values") in the two
// outside forms: BigQuery's tabledata.list JSON ({"f":[{"v":...}]}) and the
// `bq-emulator dump` JSON lines, sorted by primary key.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/bq_emulator/table_schema.h"

namespace pg2bq::bqemu {

// One row as tabledata.list returns it. TIMESTAMPs are microseconds since the
// epoch when use_int64_timestamp is set, else seconds with a fraction.
nlohmann::json ToTableDataRow(const std::vector<Column>& columns, const nlohmann::json& row,
                              bool use_int64_timestamp);

// The dump line of a row: columns in table order, values as stored.
std::string ToDumpLine(const std::vector<Column>& columns, const nlohmann::json& row);

// Sorts rows by the primary key columns, comparing values by their type
// (numbers numerically, decimals exactly, NULL first); without a primary key
// by every column in table order.
void SortRowsByKey(const TableSchema& schema, std::vector<nlohmann::json>* rows);

// <0, 0, >0 for two stored values of one column type.
int CompareStoredValues(ColumnType type, const nlohmann::json& a, const nlohmann::json& b);

}  // namespace pg2bq::bqemu
