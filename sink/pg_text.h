// Readers of PostgreSQL's text output forms, producing what the Storage Write API wants
// (docs/TYPE_MAPPING.md). Assumes the session settings the replication connection uses
// (docs/DECODER.md): DateStyle ISO, IntervalStyle postgres, bytea_output hex (escape also
// read), TimeZone any (offsets are read), lc_monetary C.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pg2bq::sink::pgtext {

enum class Infinity : std::int8_t { kNone = 0, kPositive = 1, kNegative = -1 };

struct CivilDate {
  std::int64_t year = 0;  // astronomical: 1 BC is 0
  int month = 0, day = 0;
  Infinity infinity = Infinity::kNone;
};

std::optional<bool> ParseBool(std::string_view s);
std::optional<std::int64_t> ParseInt64(std::string_view s);
std::optional<double> ParseFloat(std::string_view s);  // NaN, Infinity, -Infinity included

std::int64_t DaysFromCivil(std::int64_t y, int m, int d);  // days since 1970-01-01

// "2024-01-31", "0044-03-15 BC", "infinity", "10000-01-01".
std::optional<CivilDate> ParseDate(std::string_view s);

struct TimeOfDay {
  int hour = 0, minute = 0, second = 0;
  int micros = 0;
};
// "12:34:56", "12:34:56.789", "24:00:00".
std::optional<TimeOfDay> ParseTime(std::string_view s);

struct Timestamp {
  CivilDate date;
  TimeOfDay time;
  int offset_seconds = 0;  // east of UTC, timestamptz only
};
// timestamp and timestamptz ("2024-01-31 12:34:56.5+05:30", "... BC", "infinity").
std::optional<Timestamp> ParseTimestamp(std::string_view s, bool with_zone);

struct Interval {
  std::int64_t months = 0;
  std::int64_t days = 0;
  std::int64_t micros = 0;
};
// IntervalStyle postgres: "1 year 2 mons -3 days +04:05:06.5", "00:00:00", "-1 days".
std::optional<Interval> ParseInterval(std::string_view s);

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
// money in lc_monetary C: "$1,234.56", "-$1,234.56", "($1,234.56)"; writes a plain decimal
// ("-1234.56") into *scratch.
bool ParseMoney(std::string_view s, std::string* scratch);
// Appends the canonical decimal ("-12.5", "0") of a finite Decimal.
void AppendDecimal(const Decimal& d, std::string* out);

// "\x4142" (hex) or the escape form ("AB\\001"); appends raw bytes to *out.
bool ParseBytea(std::string_view s, std::string* out);

// hstore text ("a"=>"1", "b"=>NULL) -> JSON object text appended to *out.
bool HstoreToJson(std::string_view s, std::string* out);

bool IsValidUtf8(std::string_view s);
// Appends a JSON string literal (quotes, escapes).
void AppendJsonString(std::string_view s, std::string* out);

}  // namespace pg2bq::sink::pgtext
