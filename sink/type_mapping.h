// PostgreSQL column type -> BigQuery column type and wire encoding (docs/TYPE_MAPPING.md).
#pragma once

#include <cstdint>
#include <string_view>

#include "sink/source_relation.h"

namespace pg2bq::sink {

enum class BqType : std::uint8_t {
  kBool,
  kInt64,
  kFloat64,
  kNumeric,
  kBigNumeric,
  kString,
  kBytes,
  kJson,
  kDate,
  kDatetime,
  kTimestamp,
  kTime,
  kInterval,
};
std::string_view BqTypeName(BqType t);  // "INT64", "BIGNUMERIC", ... (REST schema names)

// How a value's text is read (the PostgreSQL side of the mapping).
enum class ValueKind : std::uint8_t {
  kBool,
  kInteger,
  kFloat,
  kNumeric,
  kMoney,
  kText,  // sent as is (UTF-8 checked)
  kBytea,
  kJson,
  kHstore,
  kDate,
  kTimestamp,
  kTimestamptz,
  kTime,
  kInterval,
};

struct MappingOptions {
  enum class UnconstrainedNumeric : std::uint8_t { kBigNumeric, kString };
  enum class Arrays : std::uint8_t { kRepeated, kJson };
  UnconstrainedNumeric numeric_unconstrained = UnconstrainedNumeric::kBigNumeric;
  Arrays arrays = Arrays::kRepeated;
};

struct ColumnMapping {
  BqType type = BqType::kString;
  ValueKind kind = ValueKind::kText;
  bool repeated = false;       // 1-D array sent as a REPEATED field
  bool array_as_json = false;  // array sent as one JSON array text (type is kJson)
  bool fallback = false;       // unknown type sent as its text form (reported once)
  // NUMERIC/BIGNUMERIC limits the column's values must respect (from typmod or BigQuery).
  int max_integer_digits = 0;
  int max_scale = 0;
};

ColumnMapping MapColumn(const SourceColumn& column, const MappingOptions& options);

// Well-known type OIDs (pg_type.h); fixed across PostgreSQL versions.
namespace oid {
inline constexpr std::uint32_t kBool = 16, kBytea = 17, kChar = 18, kName = 19, kInt8 = 20,
                               kInt2 = 21, kInt4 = 23, kText = 25, kOid = 26, kJson = 114,
                               kXml = 142, kCidr = 650, kFloat4 = 700, kFloat8 = 701,
                               kMacaddr8 = 774, kMoney = 790, kMacaddr = 829, kInet = 869,
                               kBpchar = 1042, kVarchar = 1043, kDate = 1082, kTime = 1083,
                               kTimestamp = 1114, kTimestamptz = 1184, kInterval = 1186,
                               kTimetz = 1266, kBit = 1560, kVarbit = 1562, kNumeric = 1700,
                               kUuid = 2950, kPgLsn = 3220, kTsvector = 3614, kJsonb = 3802;
}  // namespace oid

// Element type OID of a built-in array type OID, or 0 when `array_oid` is not one.
std::uint32_t ArrayElementOid(std::uint32_t array_oid);

}  // namespace pg2bq::sink
