#include "sink/type_mapping.h"

#include <algorithm>
#include <array>
#include <utility>

namespace pg2bq::sink {
namespace {

// NUMERIC: 29 integer digits, scale 9. BIGNUMERIC: 38 whole integer digits (a partial 39th up
// to 5.78e38 exists, but typmod precision cannot express "partial"), scale 38.
constexpr int kNumericIntDigits = 29, kNumericScale = 9;
constexpr int kBigNumericIntDigits = 38, kBigNumericScale = 38;

struct ArrayPair {
  std::uint32_t array, element;
};
constexpr std::array<ArrayPair, 33> kArrays = {{
    {1000, oid::kBool},     {1001, oid::kBytea},     {1002, oid::kChar},
    {1003, oid::kName},     {1005, oid::kInt2},      {1007, oid::kInt4},
    {1009, oid::kText},     {1014, oid::kBpchar},    {1015, oid::kVarchar},
    {1016, oid::kInt8},     {1021, oid::kFloat4},    {1022, oid::kFloat8},
    {1028, oid::kOid},      {199, oid::kJson},       {143, oid::kXml},
    {651, oid::kCidr},      {775, oid::kMacaddr8},   {791, oid::kMoney},
    {1040, oid::kMacaddr},  {1041, oid::kInet},      {1182, oid::kDate},
    {1183, oid::kTime},     {1115, oid::kTimestamp}, {1185, oid::kTimestamptz},
    {1187, oid::kInterval}, {1270, oid::kTimetz},    {1561, oid::kBit},
    {1563, oid::kVarbit},   {1231, oid::kNumeric},   {2951, oid::kUuid},
    {3221, oid::kPgLsn},    {3643, oid::kTsvector},  {3807, oid::kJsonb},
}};

ColumnMapping Scalar(BqType t, ValueKind k) {
  ColumnMapping m;
  m.type = t;
  m.kind = k;
  return m;
}

// Maps a scalar (non-array) type; `found` false when the type is unknown.
ColumnMapping MapScalar(std::uint32_t type_oid, std::int32_t typmod, std::string_view type_name,
                        bool is_enum, const MappingOptions& options, bool* found) {
  *found = true;
  switch (type_oid) {
    case oid::kBool:
      return Scalar(BqType::kBool, ValueKind::kBool);
    case oid::kInt2:
    case oid::kInt4:
    case oid::kInt8:
    case oid::kOid:
      return Scalar(BqType::kInt64, ValueKind::kInteger);
    case oid::kFloat4:
    case oid::kFloat8:
      return Scalar(BqType::kFloat64, ValueKind::kFloat);
    case oid::kMoney: {
      ColumnMapping m = Scalar(BqType::kNumeric, ValueKind::kMoney);
      m.max_integer_digits = kNumericIntDigits;
      m.max_scale = kNumericScale;
      return m;
    }
    case oid::kNumeric: {
      ColumnMapping m = Scalar(BqType::kBigNumeric, ValueKind::kNumeric);
      if (typmod >= 4) {
        // typmod = ((precision << 16) | (scale & 0x7ff)) + VARHDRSZ; scale is signed 11-bit.
        const std::int32_t t = typmod - 4;
        const int precision = (t >> 16) & 0xFFFF;
        int scale = t & 0x7FF;
        if (scale & 0x400) scale -= 0x800;
        const int int_digits = precision - scale;  // scale < 0: more integer digits
        const int frac = std::max(scale, 0);
        if (frac <= kNumericScale && int_digits <= kNumericIntDigits) {
          m.type = BqType::kNumeric;
          m.max_integer_digits = kNumericIntDigits;
          m.max_scale = kNumericScale;
        } else if (frac <= kBigNumericScale && int_digits <= kBigNumericIntDigits) {
          m.max_integer_digits = kBigNumericIntDigits;
          m.max_scale = kBigNumericScale;
        } else {
          // Declared wider than BIGNUMERIC: STRING keeps every value exactly.
          m.type = BqType::kString;
        }
        return m;
      }
      if (options.numeric_unconstrained == MappingOptions::UnconstrainedNumeric::kString) {
        m.type = BqType::kString;
      } else {
        m.max_integer_digits = kBigNumericIntDigits;
        m.max_scale = kBigNumericScale;
      }
      return m;
    }
    case oid::kText:
    case oid::kVarchar:
    case oid::kBpchar:
    case oid::kName:
    case oid::kChar:
    case oid::kUuid:
    case oid::kInet:
    case oid::kCidr:
    case oid::kMacaddr:
    case oid::kMacaddr8:
    case oid::kBit:
    case oid::kVarbit:
    case oid::kXml:
    case oid::kTsvector:
    case oid::kTimetz:
    case oid::kPgLsn:
      return Scalar(BqType::kString, ValueKind::kText);
    case oid::kBytea:
      return Scalar(BqType::kBytes, ValueKind::kBytea);
    case oid::kJson:
    case oid::kJsonb:
      return Scalar(BqType::kJson, ValueKind::kJson);
    case oid::kDate:
      return Scalar(BqType::kDate, ValueKind::kDate);
    case oid::kTimestamp:
      return Scalar(BqType::kDatetime, ValueKind::kTimestamp);
    case oid::kTimestamptz:
      return Scalar(BqType::kTimestamp, ValueKind::kTimestamptz);
    case oid::kTime:
      return Scalar(BqType::kTime, ValueKind::kTime);
    case oid::kInterval:
      return Scalar(BqType::kInterval, ValueKind::kInterval);
    default:
      break;
  }
  if (is_enum || type_name == "citext") return Scalar(BqType::kString, ValueKind::kText);
  if (type_name == "hstore") return Scalar(BqType::kJson, ValueKind::kHstore);
  *found = false;
  ColumnMapping m = Scalar(BqType::kString, ValueKind::kText);
  m.fallback = true;
  return m;
}

}  // namespace

std::string_view BqTypeName(BqType t) {
  switch (t) {
    case BqType::kBool:
      return "BOOL";
    case BqType::kInt64:
      return "INT64";
    case BqType::kFloat64:
      return "FLOAT64";
    case BqType::kNumeric:
      return "NUMERIC";
    case BqType::kBigNumeric:
      return "BIGNUMERIC";
    case BqType::kString:
      return "STRING";
    case BqType::kBytes:
      return "BYTES";
    case BqType::kJson:
      return "JSON";
    case BqType::kDate:
      return "DATE";
    case BqType::kDatetime:
      return "DATETIME";
    case BqType::kTimestamp:
      return "TIMESTAMP";
    case BqType::kTime:
      return "TIME";
    case BqType::kInterval:
      return "INTERVAL";
  }
  return "STRING";
}

std::uint32_t ArrayElementOid(std::uint32_t array_oid) {
  for (const auto& p : kArrays)
    if (p.array == array_oid) return p.element;
  return 0;
}

ColumnMapping MapColumn(const SourceColumn& column, const MappingOptions& options) {
  std::uint32_t type_oid = column.type_oid;
  std::string_view type_name = column.type_name;
  // Domains are their base type (when the caller resolved it).
  if (column.base_type_oid != 0) {
    type_oid = column.base_type_oid;
    type_name = {};
  }
  // Array: by known OID, or a name starting with '_' (pgoutput Type message) for extension
  // types such as _citext / _hstore.
  std::uint32_t element = ArrayElementOid(type_oid);
  std::string_view element_name;
  bool is_array = element != 0;
  if (!is_array && type_name.size() > 1 && type_name.front() == '_') {
    is_array = true;
    element_name = type_name.substr(1);
  }
  if (!is_array) {
    bool found = false;
    return MapScalar(type_oid, column.typmod, type_name, column.is_enum, options, &found);
  }
  bool found = false;
  // The typmod of an array column applies to its elements (numeric(10,2)[]).
  ColumnMapping m =
      MapScalar(element, column.typmod, element_name, /*is_enum=*/false, options, &found);
  if (options.arrays == MappingOptions::Arrays::kJson) {
    ColumnMapping j;
    j.type = BqType::kJson;
    j.kind = m.kind;
    j.array_as_json = true;
    j.fallback = m.fallback;
    j.max_integer_digits = m.max_integer_digits;
    j.max_scale = m.max_scale;
    return j;
  }
  m.repeated = true;
  return m;
}

}  // namespace pg2bq::sink
