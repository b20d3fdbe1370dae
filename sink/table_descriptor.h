// One version of a table's BigQuery shape: the REST table schema, the proto row descriptor
// the rows are encoded with, and how each source column maps onto it. A new Relation message
// with a different shape produces a new version (DescriptorRegistry).
#pragma once

#include <google/protobuf/descriptor.pb.h>

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"
#include "sink/source_relation.h"
#include "sink/type_mapping.h"

namespace pg2bq::sink {

enum class WriteMode : std::uint8_t {
  kCdc,        // _CHANGE_TYPE UPSERT/DELETE on the _default stream; needs a key
  kChangeLog,  // append-only history with _pg2bq_op, _pg2bq_lsn, _pg2bq_commit_time
};

struct DescriptorOptions {
  MappingOptions mapping;
  // Keyed tables use CDC unless this is set (history tables).
  bool changelog_for_keyed_tables = false;
  // Change-log rows are CDC UPSERTs keyed by _pg2bq_lsn, so replays overwrite themselves
  // (needs the _default stream). false: plain appends (_CHANGE_TYPE absent, no primary key),
  // for a writer that deduplicates by committed-stream offsets instead.
  bool changelog_upsert = true;
  // `target.table_name` (TargetTableId); empty = kDefaultTableNameTemplate.
  std::string table_name;
};

struct DescriptorColumn {
  std::string bq_name;
  std::string pg_name;
  ColumnMapping mapping;
  std::uint32_t field_number = 0;
  bool is_key = false;
  // The OID the value is decoded as: the column's type, or a domain's base type.
  std::uint32_t value_type_oid = 0;
};

inline constexpr std::size_t kMaxPrimaryKeyColumns = 16;  // BigQuery CDC limit
inline constexpr const char* kChangeLogOpColumn = "_pg2bq_op";
inline constexpr const char* kChangeLogLsnColumn = "_pg2bq_lsn";
inline constexpr const char* kChangeLogCommitTimeColumn = "_pg2bq_commit_time";

struct TableDescriptor {
  std::uint32_t relation_oid = 0;
  std::string pg_schema, pg_table;
  std::string bq_table;  // the target table id (DescriptorOptions::table_name)
  std::uint32_t version = 0;
  WriteMode mode = WriteMode::kCdc;
  std::vector<DescriptorColumn> columns;  // index = source column index
  std::vector<std::string> key_columns;   // BigQuery names, in key order
  // Pseudo/extra fields; 0 when the mode does not have them.
  std::uint32_t change_type_field = 0, change_sequence_field = 0;  // 0: plain appends
  std::uint32_t op_field = 0, lsn_field = 0, commit_time_field = 0;
  google::protobuf::DescriptorProto proto;    // self-contained, proto2
  nlohmann::json schema;                      // REST TableSchema: {"fields": [...]}
  std::vector<std::string> fallback_columns;  // sent as text because the type is unknown
};

Result<std::shared_ptr<const TableDescriptor>> BuildTableDescriptor(
    const SourceRelation& relation, const DescriptorOptions& options, std::uint32_t version);

// Keeps the current descriptor per relation OID and hands out a new version when a
// relation's shape changes. Not thread-safe: owned by the encoder thread.
class DescriptorRegistry {
 public:
  explicit DescriptorRegistry(DescriptorOptions options) : options_(options) {}

  // Returns the current descriptor for `relation`, building version 1 or the next version
  // when columns, types, typmods or key flags differ from the last one seen.
  Result<std::shared_ptr<const TableDescriptor>> Update(const SourceRelation& relation);
  std::shared_ptr<const TableDescriptor> Find(std::uint32_t relation_oid) const;

 private:
  struct Entry {
    SourceRelation relation;
    std::shared_ptr<const TableDescriptor> descriptor;
  };
  DescriptorOptions options_;
  std::map<std::uint32_t, Entry> entries_;
};

}  // namespace pg2bq::sink
