// Formats a decoded value exactly as the PostgreSQL 15 server's output
// function prints it, given the session settings documented in
// docs/DECODER.md (DateStyle ISO, TimeZone UTC, IntervalStyle postgres,
// extra_float_digits 1, bytea_output hex, lc_monetary C).
//
// This is what makes `pg2bq stream --binary` print the same bytes as text
// mode: a text-representation value is appended unchanged; a typed value is
// rendered the way float8out, numeric_out, timestamptz_out, ... would.
#pragma once

#include <string>

#include "common/status.h"
#include "decoder/pg_value.h"

namespace pg2bq {

// Appends the text form of `value` to *out. Fails only for arrays whose
// bytes are malformed.
Status AppendPgText(const PgValue& value, std::string* out);

// Individual formatters, usable by the sink without a PgValue.
void AppendPgFloat8(double v, std::string* out);
void AppendPgFloat4(float v, std::string* out);
void AppendPgNumeric(const PgNumeric& v, std::string* out);  // finite digits or special
void AppendPgDate(std::int32_t days, std::string* out);
void AppendPgTime(std::int64_t micros, std::string* out);
void AppendPgTimeTz(const PgTimeTz& v, std::string* out);
void AppendPgTimestamp(std::int64_t micros, bool with_zone_utc, std::string* out);
void AppendPgInterval(const PgInterval& v, std::string* out);
void AppendPgBytea(std::string_view raw, std::string* out);  // "\x...."
void AppendPgUuid(const std::array<std::uint8_t, 16>& v, std::string* out);
void AppendPgMacaddr(const std::array<std::uint8_t, 6>& v, std::string* out);
void AppendPgInet(const PgInet& v, std::string* out);
void AppendPgMoney(std::int64_t cents, std::string* out);

}  // namespace pg2bq
