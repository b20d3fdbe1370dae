#include "sink/pg_text.h"

#include <charconv>
#include <cmath>
#include <limits>

namespace pg2bq::sink::pgtext {
namespace {

bool IsDigit(char c) {
  return c >= '0' && c <= '9';
}

}  // namespace

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
