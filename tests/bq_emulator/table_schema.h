// A BigQuery table's schema and metadata as the emulator keeps them: parsed
// from / rendered to the REST v2 Table resource, and converted to the Storage
// Write API's TableSchema (WriteStream.table_schema, updated_schema).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "google/cloud/bigquery/storage/v1/table.pb.h"

namespace pg2bq::bqemu {

enum class ColumnType {
  kString,
  kBytes,
  kInt64,
  kFloat64,
  kBool,
  kTimestamp,
  kDate,
  kTime,
  kDatetime,
  kNumeric,
  kBigNumeric,
  kJson,
  kGeography,
  kInterval,
  kStruct,
};

enum class ColumnMode { kNullable, kRequired, kRepeated };

struct Column {
  std::string name;
  ColumnType type = ColumnType::kString;
  ColumnMode mode = ColumnMode::kNullable;
  std::vector<Column> fields;  // STRUCT (RECORD) sub-columns
};

// Parses a REST type name ("INTEGER", "INT64", "RECORD", ...).
Result<ColumnType> ParseColumnType(const std::string& name);
// The canonical legacy name tables.get returns ("INTEGER", "FLOAT", "RECORD"...).
std::string ColumnTypeRestName(ColumnType type);
// The GoogleSQL name used in error messages ("INT64").
std::string ColumnTypeSqlName(ColumnType type);

struct TableId {
  std::string project;
  std::string dataset;
  std::string table;
  std::string Dotted() const { return project + "." + dataset + "." + table; }
  // "projects/P/datasets/D/tables/T"
  std::string ResourceName() const;
};

// Parses "projects/P/datasets/D/tables/T" (and an optional "/streams/S" tail,
// returned in *stream when stream is non-null).
Result<TableId> ParseTableResource(const std::string& name, std::string* stream = nullptr);
// Parses "P.D.T" or "P:D.T".
Result<TableId> ParseDottedTable(const std::string& text);

struct TableSchema {
  std::vector<Column> columns;
  std::vector<std::string> primary_key;  // tableConstraints.primaryKey.columns

  const Column* Find(const std::string& name) const;  // case-insensitive, like BigQuery
};

// Reads schema.fields and tableConstraints.primaryKey of a REST Table resource,
// enforcing BigQuery's rules (unique names, key columns exist, are not
// REPEATED/STRUCT, at most 16 of them).
Result<TableSchema> TableSchemaFromResource(const nlohmann::json& table);
nlohmann::json ColumnsToRest(const std::vector<Column>& columns);
google::cloud::bigquery::storage::v1::TableSchema ToStorageSchema(const TableSchema& schema);

}  // namespace pg2bq::bqemu
