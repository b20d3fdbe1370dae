// The few text helpers that are BigQuery-specific: decimal text checked against NUMERIC /
// BIGNUMERIC precision, hstore -> JSON, UTF-8 validation, JSON string escaping. Reading
// PostgreSQL values is the decoder's job (decoder/pg_value.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/json_string.h"

namespace pg2bq::sink::pgtext {

// Decimal text. `negative`, integer digits without leading zeros, fraction digits without
// trailing zeros; special for NaN/Infinity/-Infinity.
struct Decimal {
  enum class Special : std::uint8_t { kFinite, kNaN, kPosInfinity, kNegInfinity };
  Special special = Special::kFinite;
  bool negative = false;
  std::string_view integer;  // views into the input (or into money scratch)
  std::string_view fraction;
};
std::optional<Decimal> ParseDecimal(std::string_view s);
// Appends the canonical decimal ("-12.5", "0") of a finite Decimal.
void AppendDecimal(const Decimal& d, std::string* out);

// hstore text ("a"=>"1", "b"=>NULL) -> JSON object text appended to *out.
bool HstoreToJson(std::string_view s, std::string* out);

bool IsValidUtf8(std::string_view s);
using ::pg2bq::AppendJsonString;  // common/json_string.h

}  // namespace pg2bq::sink::pgtext
