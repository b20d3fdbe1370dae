// Renders decoded changes as the JSON lines `pg2bq stream` prints:
//
//   {"lsn":"0/1A2B3C8","commit_lsn":"0/1A2B4F0","xid":745,"table":"public.t",
//    "op":"update","new":{"id":"1","note":{"unchanged_toast":true}},"old":{"id":"0"}}
//
// Values are PostgreSQL's text output form as JSON strings, NULL is null, an
// unchanged TOAST value is {"unchanged_toast": true}. In text mode the server's own
// text is printed (after checking that it decodes); in binary mode the value is
// decoded and formatted back with AppendPgText, so both modes print the same. `old`
// is the old row image: with REPLICA IDENTITY DEFAULT/INDEX only the key columns
// (the others are not sent), with FULL every column; null when there is none.
// See docs/REPLICATION.md for truncate and message lines.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "common/json_string.h"
#include "common/status.h"
#include "decoder/pg_type.h"
#include "decoder/pg_value.h"
#include "decoder/pgoutput_decoder.h"

namespace pg2bq::agent {

using ::pg2bq::AppendJsonString;  // common/json_string.h

class ChangeJsonWriter {
 public:
  explicit ChangeJsonWriter(const PgTypeRegistry* types) : types_(types) {}

  // `{"lsn":"X/Y","commit_lsn":"X/Y"` (commit_lsn null when kInvalidLsn).
  static void AppendPrefix(Lsn lsn, Lsn commit_lsn, std::string* out);
  // The rest of the line after the prefix, newline included.
  Status AppendBody(const Change& change, std::string* out);

  // Decodes every value of `change` without printing (for --output none).
  Status DecodeValues(const Change& change);

 private:
  Status AppendTuple(const Relation& rel, const TupleData& tuple, bool keys_only, std::string* out);
  Status AppendValue(const RelationColumn& col, const ColumnValue& value, std::string* out);
  // The resolved types of a relation's columns, for DecodeValues: resolving per value
  // was ~5% of `pg2bq stream --output none`. Checked per column against the type OID (a
  // Relation message may replace the relation) and against the registry's generation.
  struct ResolvedColumns {
    std::uint64_t generation = 0;
    std::vector<PgType> types;  // PgType::oid is the column's type OID (Resolve keeps it)
  };
  // The cached types of `rel`'s columns, re-resolved where a column's type OID changed.
  const std::vector<PgType>& ResolvedTypes(const Relation& rel);

  const PgTypeRegistry* types_;
  std::unordered_map<const Relation*, ResolvedColumns> resolved_;  // node-based: stable
  const Relation* last_relation_ = nullptr;
  ResolvedColumns* last_resolved_ = nullptr;
  PgValue value_;
  std::string scratch_;
};

}  // namespace pg2bq::agent
