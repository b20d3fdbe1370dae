#include "sink/pg_text.h"

#include <charconv>
#include <cmath>
#include <limits>

namespace pg2bq::sink::pgtext {
namespace {

bool IsDigit(char c) {
  return c >= '0' && c <= '9';
}

// Reads 1+ digits at s[*pos]; false when there are none or the value overflows.
bool ReadUnsigned(std::string_view s, std::size_t* pos, std::int64_t* out,
                  std::size_t* ndigits = nullptr) {
  std::size_t start = *pos;
  std::int64_t v = 0;
  while (*pos < s.size() && IsDigit(s[*pos])) {
    if (v > (std::numeric_limits<std::int64_t>::max() - 9) / 10) return false;
    v = v * 10 + (s[*pos] - '0');
    ++*pos;
  }
  if (*pos == start) return false;
  if (ndigits) *ndigits = *pos - start;
  *out = v;
  return true;
}

bool Expect(std::string_view s, std::size_t* pos, char c) {
  if (*pos < s.size() && s[*pos] == c) {
    ++*pos;
    return true;
  }
  return false;
}

bool StripBc(std::string_view* s) {
  if (s->size() >= 3 && s->substr(s->size() - 3) == " BC") {
    s->remove_suffix(3);
    return true;
  }
  return false;
}

int DaysInMonth(std::int64_t y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

// "YYYY-MM-DD" at the start of s; advances pos.
bool ReadDate(std::string_view s, std::size_t* pos, CivilDate* d) {
  std::int64_t y, m, dd;
  if (!ReadUnsigned(s, pos, &y) || !Expect(s, pos, '-') || !ReadUnsigned(s, pos, &m) ||
      !Expect(s, pos, '-') || !ReadUnsigned(s, pos, &dd))
    return false;
  if (m < 1 || m > 12 || dd < 1 || dd > 31) return false;
  d->year = y;
  d->month = static_cast<int>(m);
  d->day = static_cast<int>(dd);
  return true;
}

// "HH:MM:SS[.ffffff]"; hours up to 24 (24:00:00 allowed for time).
bool ReadTime(std::string_view s, std::size_t* pos, TimeOfDay* t) {
  std::int64_t h, m, sec;
  if (!ReadUnsigned(s, pos, &h) || !Expect(s, pos, ':') || !ReadUnsigned(s, pos, &m) ||
      !Expect(s, pos, ':') || !ReadUnsigned(s, pos, &sec))
    return false;
  int micros = 0;
  if (*pos < s.size() && s[*pos] == '.') {
    ++*pos;
    int n = 0;
    while (*pos < s.size() && IsDigit(s[*pos])) {
      if (n >= 6) return false;  // PostgreSQL keeps microseconds at most
      micros = micros * 10 + (s[*pos] - '0');
      ++n;
      ++*pos;
    }
    if (n == 0) return false;
    for (; n < 6; ++n)
      micros *= 10;
  }
  if (h > 24 || m > 59 || sec > 60) return false;
  if (h == 24 && (m != 0 || sec != 0 || micros != 0)) return false;
  t->hour = static_cast<int>(h);
  t->minute = static_cast<int>(m);
  t->second = static_cast<int>(sec);
  t->micros = micros;
  return true;
}

std::optional<Infinity> ParseInfinity(std::string_view s) {
  if (s == "infinity") return Infinity::kPositive;
  if (s == "-infinity") return Infinity::kNegative;
  return std::nullopt;
}

}  // namespace

std::optional<bool> ParseBool(std::string_view s) {
  if (s == "t") return true;
  if (s == "f") return false;
  if (s == "true") return true;
  if (s == "false") return false;
  return std::nullopt;
}

std::optional<std::int64_t> ParseInt64(std::string_view s) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::optional<double> ParseFloat(std::string_view s) {
  if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (s == "Infinity") return std::numeric_limits<double>::infinity();
  if (s == "-Infinity") return -std::numeric_limits<double>::infinity();
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::int64_t DaysFromCivil(std::int64_t y, int m, int d) {
  // Howard Hinnant's days_from_civil (proleptic Gregorian, like PostgreSQL).
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const std::int64_t yoe = y - era * 400;
  const std::int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

std::optional<CivilDate> ParseDate(std::string_view s) {
  CivilDate d;
  if (auto inf = ParseInfinity(s)) {
    d.infinity = *inf;
    return d;
  }
  const bool bc = StripBc(&s);
  std::size_t pos = 0;
  if (!ReadDate(s, &pos, &d) || pos != s.size()) return std::nullopt;
  if (bc) d.year = 1 - d.year;
  if (d.day > DaysInMonth(d.year, d.month)) return std::nullopt;
  return d;
}

std::optional<TimeOfDay> ParseTime(std::string_view s) {
  TimeOfDay t;
  std::size_t pos = 0;
  if (!ReadTime(s, &pos, &t) || pos != s.size()) return std::nullopt;
  return t;
}

std::optional<Timestamp> ParseTimestamp(std::string_view s, bool with_zone) {
  Timestamp ts;
  if (auto inf = ParseInfinity(s)) {
    ts.date.infinity = *inf;
    return ts;
  }
  const bool bc = StripBc(&s);
  std::size_t pos = 0;
  if (!ReadDate(s, &pos, &ts.date) || !Expect(s, &pos, ' ') || !ReadTime(s, &pos, &ts.time))
    return std::nullopt;
  if (ts.time.hour == 24) return std::nullopt;
  if (with_zone) {
    if (pos >= s.size() || (s[pos] != '+' && s[pos] != '-')) return std::nullopt;
    const int sign = s[pos] == '-' ? -1 : 1;
    ++pos;
    std::int64_t h = 0, m = 0, sec = 0;
    if (!ReadUnsigned(s, &pos, &h)) return std::nullopt;
    if (Expect(s, &pos, ':')) {
      if (!ReadUnsigned(s, &pos, &m)) return std::nullopt;
      if (Expect(s, &pos, ':') && !ReadUnsigned(s, &pos, &sec)) return std::nullopt;
    }
    if (h > 15 * 24 || m > 59 || sec > 59) return std::nullopt;
    ts.offset_seconds = sign * static_cast<int>(h * 3600 + m * 60 + sec);
  }
  if (pos != s.size()) return std::nullopt;
  if (bc) ts.date.year = 1 - ts.date.year;
  if (ts.date.day > DaysInMonth(ts.date.year, ts.date.month)) return std::nullopt;
  return ts;
}

std::optional<Interval> ParseInterval(std::string_view s) {
  Interval iv;
  std::size_t pos = 0;
  bool any = false;
  auto skip_spaces = [&] {
    while (pos < s.size() && s[pos] == ' ')
      ++pos;
  };
  skip_spaces();
  while (pos < s.size()) {
    int sign = 1;
    if (s[pos] == '-' || s[pos] == '+') {
      sign = s[pos] == '-' ? -1 : 1;
      ++pos;
    }
    std::size_t save = pos;
    std::int64_t n;
    if (!ReadUnsigned(s, &pos, &n)) return std::nullopt;
    if (pos < s.size() && s[pos] == ':') {
      // time part: H+:MM:SS[.f]
      std::int64_t m, sec;
      pos = save;
      if (!ReadUnsigned(s, &pos, &n) || !Expect(s, &pos, ':') || !ReadUnsigned(s, &pos, &m) ||
          !Expect(s, &pos, ':') || !ReadUnsigned(s, &pos, &sec))
        return std::nullopt;
      std::int64_t micros = 0;
      if (Expect(s, &pos, '.')) {
        int digits = 0;
        while (pos < s.size() && IsDigit(s[pos])) {
          if (digits >= 6) return std::nullopt;
          micros = micros * 10 + (s[pos] - '0');
          ++digits;
          ++pos;
        }
        if (digits == 0) return std::nullopt;
        for (; digits < 6; ++digits)
          micros *= 10;
      }
      if (m > 59 || sec > 59 || n > std::numeric_limits<std::int64_t>::max() / 3600000000LL)
        return std::nullopt;
      iv.micros += sign * (((n * 60 + m) * 60 + sec) * 1000000 + micros);
    } else {
      if (!Expect(s, &pos, ' ')) return std::nullopt;
      std::size_t unit_start = pos;
      while (pos < s.size() && s[pos] != ' ')
        ++pos;
      std::string_view unit = s.substr(unit_start, pos - unit_start);
      if (unit == "year" || unit == "years") {
        iv.months += sign * n * 12;
      } else if (unit == "mon" || unit == "mons") {
        iv.months += sign * n;
      } else if (unit == "day" || unit == "days") {
        iv.days += sign * n;
      } else {
        return std::nullopt;
      }
    }
    any = true;
    skip_spaces();
  }
  if (!any) return std::nullopt;
  return iv;
}

std::optional<Decimal> ParseDecimal(std::string_view s) {
  Decimal d;
  if (s == "NaN") {
    d.special = Decimal::Special::kNaN;
    return d;
  }
  if (s == "Infinity") {
    d.special = Decimal::Special::kPosInfinity;
    return d;
  }
  if (s == "-Infinity") {
    d.special = Decimal::Special::kNegInfinity;
    return d;
  }
  std::size_t pos = 0;
  if (pos < s.size() && (s[pos] == '-' || s[pos] == '+')) {
    d.negative = s[pos] == '-';
    ++pos;
  }
  const std::size_t int_start = pos;
  while (pos < s.size() && IsDigit(s[pos]))
    ++pos;
  std::string_view integer = s.substr(int_start, pos - int_start);
  std::string_view fraction;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    const std::size_t f = pos;
    while (pos < s.size() && IsDigit(s[pos]))
      ++pos;
    fraction = s.substr(f, pos - f);
  }
  if (pos != s.size() || (integer.empty() && fraction.empty())) return std::nullopt;
  while (!integer.empty() && integer.front() == '0')
    integer.remove_prefix(1);
  while (!fraction.empty() && fraction.back() == '0')
    fraction.remove_suffix(1);
  d.integer = integer;
  d.fraction = fraction;
  if (integer.empty() && fraction.empty()) d.negative = false;  // -0
  return d;
}

bool ParseMoney(std::string_view s, std::string* scratch) {
  scratch->clear();
  scratch->push_back('-');  // dropped below when the amount is not negative
  bool negative = false;
  bool seen_digit = false, seen_point = false;
  for (char c : s) {
    if (IsDigit(c)) {
      scratch->push_back(c);
      seen_digit = true;
    } else if (c == '.') {
      if (seen_point) return false;
      seen_point = true;
      scratch->push_back(c);
    } else if (c == '-' || c == '(') {
      negative = true;
    } else if (c == '$' || c == ',' || c == ')' || c == ' ') {
      // currency symbol, grouping, closing parenthesis
    } else {
      return false;
    }
  }
  if (!seen_digit) return false;
  if (!negative) *scratch = scratch->substr(1);
  return true;
}

void AppendDecimal(const Decimal& d, std::string* out) {
  if (d.negative) out->push_back('-');
  if (d.integer.empty()) {
    out->push_back('0');
  } else {
    out->append(d.integer);
  }
  if (!d.fraction.empty()) {
    out->push_back('.');
    out->append(d.fraction);
  }
}

bool ParseBytea(std::string_view s, std::string* out) {
  auto hexval = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (s.size() >= 2 && s[0] == '\\' && s[1] == 'x') {
    s.remove_prefix(2);
    if (s.size() % 2) return false;
    out->reserve(out->size() + s.size() / 2);
    for (std::size_t i = 0; i < s.size(); i += 2) {
      const int hi = hexval(s[i]), lo = hexval(s[i + 1]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi * 16 + lo));
    }
    return true;
  }
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out->push_back(s[i]);
    } else if (i + 1 < s.size() && s[i + 1] == '\\') {
      out->push_back('\\');
      ++i;
    } else if (i + 3 < s.size() + 0 && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' &&
               s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
      out->push_back(
          static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      return false;
    }
  }
  return true;
}

void AppendJsonString(std::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      default:
        if (u < 0x20) {
          out->append("\\u00");
          out->push_back(kHex[u >> 4]);
          out->push_back(kHex[u & 0xF]);
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

bool HstoreToJson(std::string_view s, std::string* out) {
  std::size_t pos = 0;
  auto skip = [&] {
    while (pos < s.size() && (s[pos] == ' ' || s[pos] == ','))
      ++pos;
  };
  // Reads a double-quoted, backslash-escaped string; `is_null` for bare NULL.
  auto read = [&](std::string* v, bool* is_null) -> bool {
    *is_null = false;
    v->clear();
    if (s.substr(pos, 4) == "NULL") {
      pos += 4;
      *is_null = true;
      return true;
    }
    if (pos >= s.size() || s[pos] != '"') return false;
    ++pos;
    while (pos < s.size() && s[pos] != '"') {
      if (s[pos] == '\\' && pos + 1 < s.size()) ++pos;
      v->push_back(s[pos++]);
    }
    if (pos >= s.size()) return false;
    ++pos;
    return true;
  };
  out->push_back('{');
  bool first = true;
  std::string key, value;
  skip();
  while (pos < s.size()) {
    bool key_null, value_null;
    if (!read(&key, &key_null) || key_null) return false;
    while (pos < s.size() && s[pos] == ' ')
      ++pos;
    if (s.substr(pos, 2) != "=>") return false;
    pos += 2;
    while (pos < s.size() && s[pos] == ' ')
      ++pos;
    if (!read(&value, &value_null)) return false;
    if (!first) out->push_back(',');
    first = false;
    AppendJsonString(key, out);
    out->push_back(':');
    if (value_null) {
      out->append("null");
    } else {
      AppendJsonString(value, out);
    }
    skip();
  }
  out->push_back('}');
  return true;
}

bool IsValidUtf8(std::string_view s) {
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    int len;
    std::uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + static_cast<std::size_t>(len) > n) return false;
    for (int k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += static_cast<std::size_t>(len);
  }
  return true;
}

}  // namespace pg2bq::sink::pgtext
