// PostgreSQL types the decoder understands, and the registry that maps a
// column's type OID to one of them.
//
// Built-in types are known by OID. Types created in the database (domains,
// enums, arrays of them) have OIDs the decoder cannot know: pgoutput's
// Relation message carries the column's atttypid (the domain's own OID for a
// domain column). Its Type message names a domain by its *base* type, which
// resolves domains over built-ins; enums and arrays of user types remain
// unknown. For those the caller (the stream layer, from a normal connection)
// looks the OIDs up in pg_type and registers them here, typically from
// ChangeHandler::OnRelation, before the first change of that relation is
// decoded. See docs/DECODER.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "decoder/pgoutput_message.h"

namespace pg2bq {

// What a value is, independent of which OID named it (int4 and a domain over
// int4 are both kInt4).
enum class PgTypeKind : std::uint8_t {
  kUnknown,  // not understood: only its text form is available
  kBool,
  kInt2,
  kInt4,
  kInt8,
  kOid,
  kFloat4,
  kFloat8,
  kNumeric,
  kText,  // text, varchar, bpchar, name
  kBytea,
  kUuid,
  kDate,
  kTime,
  kTimeTz,
  kTimestamp,
  kTimestampTz,
  kInterval,
  kJson,
  kJsonb,
  kInet,
  kCidr,
  kMacaddr,
  kMoney,
  kEnum,   // text form in both text and binary mode (enum_send sends the label)
  kArray,  // element kind in PgType::element
};

std::string_view PgTypeKindName(PgTypeKind kind);

// Well-known OIDs (src/include/catalog/pg_type.dat).
namespace pg_oid {
inline constexpr Oid kBool = 16, kBytea = 17, kChar = 18, kName = 19, kInt8 = 20, kInt2 = 21,
                     kInt4 = 23, kText = 25, kOid = 26, kJson = 114, kFloat4 = 700, kFloat8 = 701,
                     kMoney = 790, kMacaddr = 829, kInet = 869, kCidr = 650, kBpchar = 1042,
                     kVarchar = 1043, kDate = 1082, kTime = 1083, kTimestamp = 1114,
                     kTimestampTz = 1184, kInterval = 1186, kTimeTz = 1266, kNumeric = 1700,
                     kUuid = 2950, kJsonb = 3802;
}  // namespace pg_oid

// A resolved type: its kind and, for arrays, the element's type.
struct PgType {
  Oid oid = 0;
  PgTypeKind kind = PgTypeKind::kUnknown;
  // kArray only: the element type as it appears in binary array headers, and
  // its resolved kind (never kArray: only 1-D arrays of scalars are typed).
  Oid element_oid = 0;
  PgTypeKind element = PgTypeKind::kUnknown;
  bool known() const { return kind != PgTypeKind::kUnknown; }
};

// What the caller learned from pg_type about an OID the registry did not know.
struct PgTypeDescription {
  Oid oid = 0;
  char typtype = 'b';      // 'b' base, 'd' domain, 'e' enum, 'c' composite, 'r' range ...
  char typcategory = 'U';  // 'A' for arrays
  Oid typbasetype = 0;     // domains: the type the domain is over
  Oid typelem = 0;         // arrays: the element type
  std::string name;        // for messages only
};

// Resolves type OIDs. Built-ins need no registration. Not thread-safe: one per
// decoder / stream.
class PgTypeRegistry {
 public:
  // The resolved type, kind kUnknown if neither built-in nor registered.
  PgType Resolve(Oid oid) const;
  bool IsKnown(Oid oid) const { return Resolve(oid).known(); }

  // Registers a domain, enum or array type. Domains resolve to their base
  // type's kind (domains over domains and arrays of domains follow the chain,
  // so register inner types first or in any order before decoding). Other
  // typtypes (composite, range, ...) are recorded as kUnknown: text only.
  Status Register(const PgTypeDescription& description);

  // Records a pgoutput Type message. pgoutput names a domain by its base
  // type, so a Type message naming a pg_catalog type registers the OID as a
  // domain over it; enums and other user types still need Register().
  void NoteTypeMessage(Oid oid, std::string_view nspname, std::string_view name);
  // "schema.name" from a Type message or registration, or "" if never seen.
  std::string_view NameOf(Oid oid) const;

  // Changes whenever a registration could change what Resolve() returns: callers may
  // cache resolved types while it stays the same.
  std::uint64_t generation() const { return generation_; }

 private:
  PgType ResolveDepth(Oid oid, int depth) const;
  std::unordered_map<Oid, PgTypeDescription> custom_;
  std::unordered_map<Oid, std::string> names_;
  std::uint64_t generation_ = 0;
};

}  // namespace pg2bq
