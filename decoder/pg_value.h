// Typed values decoded from one tuple column, text or binary format.
//
// A PgValue never owns memory: it holds scalars by value and points into the
// received buffer for anything variable-length. Decoding a column allocates
// nothing. Two representations exist:
//  - typed: the scalar fields below are set (ints, floats, dates,
//    timestamps, intervals, uuid, macaddr, inet, numeric digits, money, bytea
//    raw bytes). Produced from binary columns, and from text columns of types
//    whose text is cheap and unambiguous to parse.
//  - text: `text` holds PostgreSQL's text output (numeric, json, jsonb text,
//    enums, inet/cidr/macaddr from text mode, kUnknown). Consumers that want
//    a string call AppendPgText(), which works for both representations.
//
// Text-mode columns are parsed assuming the session settings documented in
// docs/DECODER.md (DateStyle ISO, IntervalStyle postgres, bytea_output hex,
// lc_monetary C); the stream layer sets them on the replication connection.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "decoder/pg_type.h"
#include "decoder/pgoutput_message.h"

namespace pg2bq {

// Days between 1970-01-01 and 2000-01-01 (PostgreSQL's epoch).
inline constexpr std::int32_t kPgEpochDaysFromUnix = 10957;
inline constexpr std::int64_t kPgEpochMicrosFromUnix = 946684800LL * 1000000;

// date: days since 2000-01-01; these two mean -infinity / infinity.
inline constexpr std::int32_t kPgDateNegInfinity = INT32_MIN;
inline constexpr std::int32_t kPgDatePosInfinity = INT32_MAX;
// timestamp(tz): microseconds since 2000-01-01 00:00 UTC; these mean -/+infinity.
inline constexpr std::int64_t kPgTimestampNegInfinity = INT64_MIN;
inline constexpr std::int64_t kPgTimestampPosInfinity = INT64_MAX;

struct PgInterval {
  std::int64_t micros = 0;
  std::int32_t days = 0;
  std::int32_t months = 0;
};

struct PgTimeTz {
  std::int64_t micros = 0;             // time of day
  std::int32_t zone_seconds_west = 0;  // PostgreSQL's sign: UTC+2 is -7200
};

// numeric. Finite values from binary keep PostgreSQL's base-10000 digits
// (`digits` views the raw big-endian int16 digit array, ndigits * 2 bytes);
// finite values from text keep the text (`PgValue::text`).
struct PgNumeric {
  enum class Special : std::uint8_t { kFinite, kNaN, kPosInfinity, kNegInfinity };
  Special special = Special::kFinite;
  bool negative = false;
  std::int16_t weight = 0;   // base-10000 exponent of the first digit
  std::uint16_t dscale = 0;  // digits after the decimal point in the text form
  std::string_view digits;   // binary: 2 bytes per base-10000 digit
};

struct PgInet {
  std::uint8_t family = 4;  // 4 or 6
  std::uint8_t bits = 32;   // netmask length
  bool is_cidr = false;
  std::array<std::uint8_t, 16> address{};  // first 4 bytes used for IPv4
};

// A 1-D (or, for text formatting only, N-D) array; iterate with PgArrayReader.
struct PgArray {
  ColumnState format = ColumnState::kText;  // which encoding `body` is in
  PgType element_type;                      // element oid + kind
  std::int32_t ndim = 0;                    // 0 for an empty array
  bool has_nulls = false;
  std::array<std::int32_t, 6> dims{};     // binary only (MAXDIM is 6)
  std::array<std::int32_t, 6> lbounds{};  // binary only
  std::string_view body;                  // binary: the element section; text: the whole text
};

struct PgValue {
  PgTypeKind kind = PgTypeKind::kUnknown;
  // kText or kBinary: the wire format it was decoded from. For kText, `text`
  // always holds the server's exact text output (AppendPgText copies it).
  ColumnState format = ColumnState::kText;
  bool is_null = false;  // only array elements; columns use ColumnState
  bool is_text = false;  // text representation only: read `text`, not the fields
  std::string_view text;

  bool boolean = false;
  std::int64_t int64 = 0;  // int2/int4/int8/oid, money (cents), time (micros),
                           // timestamp/timestamptz (micros since 2000-01-01)
  std::int32_t date = 0;   // days since 2000-01-01
  double float64 = 0;      // float4 (widened exactly) and float8
  PgInterval interval;
  PgTimeTz timetz;
  PgNumeric numeric;
  PgInet inet;
  std::array<std::uint8_t, 16> uuid{};
  std::array<std::uint8_t, 6> macaddr{};
  // bytea (raw bytes from binary; `text` holds "\x.." from text mode),
  // json/jsonb text (jsonb's version byte stripped).
  std::string_view bytes;
  PgArray array;
};

// Decodes a column value of the given type. kNull and kUnchangedToast
// columns are not values: the caller handles them. Errors (Corruption) name
// the type and what was wrong ("int4: binary value has 3 bytes, want 4").
// For an unknown type in text format the result is kUnknown with is_text;
// in binary format it is an error: an unknown type's send() bytes cannot be
// interpreted (the stream layer must register the type or use text mode).
Result<PgValue> DecodePgValue(const PgType& type, const ColumnValue& column);
// Same, into a caller-owned PgValue (no Result temporary; hot path).
Status DecodePgValueInto(const PgType& type, const ColumnValue& column, PgValue* out);

// bytea: appends the raw bytes (decoding the "\x.." hex form of text mode).
Status AppendPgByteaBytes(const PgValue& value, std::string* out);

// Iterates array elements without allocating per element (`scratch` holds
// de-escaped text elements; element views into it are valid until the next
// Next()).
class PgArrayReader {
 public:
  explicit PgArrayReader(const PgArray& array);
  // Sets *element and returns true, false at the end; Status on malformed input.
  Result<bool> Next(PgValue* element);
  // Total number of elements (product of dims); text arrays count lazily.
  std::int64_t size_hint() const { return size_hint_; }

 private:
  const PgArray& array_;
  std::size_t pos_ = 0;
  std::int64_t remaining_ = 0;
  std::int64_t size_hint_ = 0;
  int depth_ = 0;
  bool done_ = false;
  std::string scratch_;
};

// Binary date / timestamp helpers (proleptic Gregorian, like PostgreSQL).
// Civil date of a day count since 2000-01-01 (year 0 is 1 BC).
void PgDateToCivil(std::int32_t days, int* year, int* month, int* day);
std::int32_t PgCivilToDate(int year, int month, int day);

}  // namespace pg2bq
