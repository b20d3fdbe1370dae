// The sink's view of a PostgreSQL table and of one change to it. Deliberately small and
// independent of the decoder's own types (sink/decoder_adapter.h converts): the sink only
// needs names, type OIDs/typmods, key flags, and each value's state and bytes.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/lsn.h"

namespace pg2bq::sink {

struct SourceColumn {
  std::string name;
  std::uint32_t type_oid = 0;
  std::int32_t typmod = -1;
  bool is_key = false;
  // For types without a fixed OID (citext, hstore, enums, domains): the type's name as sent
  // in pgoutput's Type message, and, for a domain, its base type OID when the caller looked
  // it up in the catalog (pgoutput does not send it). 0 = unknown.
  std::string type_name;
  std::uint32_t base_type_oid = 0;
  bool is_enum = false;

  bool operator==(const SourceColumn&) const = default;
};

struct SourceRelation {
  std::uint32_t oid = 0;
  std::string schema;
  std::string name;
  std::vector<SourceColumn> columns;

  bool HasKey() const {
    for (const auto& c : columns)
      if (c.is_key) return true;
    return false;
  }
  bool operator==(const SourceRelation&) const = default;
};

// A column value as pgoutput delivers it.
enum class ValueState : std::uint8_t {
  kNull,
  kUnchangedToast,  // 'u': value not sent because it did not change and is TOASTed
  kText,            // PostgreSQL's text output form
  kBinary,          // the type's binary send form (binary 'true' subscriptions)
};

struct SourceValue {
  ValueState state = ValueState::kNull;
  std::string_view bytes;  // a view; valid while the caller's buffer lives

  static SourceValue Null() { return {ValueState::kNull, {}}; }
  static SourceValue Text(std::string_view s) { return {ValueState::kText, s}; }
  static SourceValue Unchanged() { return {ValueState::kUnchangedToast, {}}; }
};

enum class ChangeKind : std::uint8_t { kInsert, kUpdate, kDelete };

// One row change. Values are indexed like SourceRelation::columns.
struct SourceChange {
  ChangeKind kind = ChangeKind::kInsert;
  Lsn commit_lsn = 0;
  std::uint64_t ordinal = 0;                // position of the change inside its transaction
  std::int64_t commit_time_us = 0;          // Unix epoch microseconds
  std::span<const SourceValue> new_values;  // insert, update
  // update: old key ('K') or full old row ('O', REPLICA IDENTITY FULL), empty if the key did
  // not change and identity is not FULL; delete: the old key or old row.
  std::span<const SourceValue> old_values;
  bool old_is_full_row = false;  // 'O' (REPLICA IDENTITY FULL) rather than 'K'
};

}  // namespace pg2bq::sink
