#include "tests/bq_emulator/bq_values.h"

#include <algorithm>
#include <cstdio>
#include <vector>

namespace pg2bq::bqemu {
namespace {

bool ReadDigits(std::string_view s, size_t* pos, size_t n, int64_t* out) {
  if (*pos + n > s.size()) return false;
  int64_t v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[*pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *pos += n;
  *out = v;
  return true;
}

unsigned DaysInMonth(int64_t y, unsigned m) {
  static const unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

Status Bad(std::string_view what, std::string_view text) {
  return Status::InvalidArgument("Invalid " + std::string(what) + " value '" + std::string(text) +
                                 "'");
}

// YYYY-MM-DD at *pos.
bool ParseDatePart(std::string_view s, size_t* pos, int64_t* days) {
  int64_t y, m, d;
  if (!ReadDigits(s, pos, 4, &y) || *pos >= s.size() || s[*pos] != '-') return false;
  ++*pos;
  if (!ReadDigits(s, pos, 2, &m) || *pos >= s.size() || s[*pos] != '-') return false;
  ++*pos;
  if (!ReadDigits(s, pos, 2, &d)) return false;
  if (y < 1 || m < 1 || m > 12 || d < 1 || d > DaysInMonth(y, static_cast<unsigned>(m))) {
    return false;
  }
  *days = DaysFromCivil(y, static_cast<unsigned>(m), static_cast<unsigned>(d));
  return true;
}

// HH:MM:SS[.f{1,6}] at *pos.
bool ParseTimePart(std::string_view s, size_t* pos, int64_t* micros) {
  int64_t h, mi, se;
  if (!ReadDigits(s, pos, 2, &h) || *pos >= s.size() || s[*pos] != ':') return false;
  ++*pos;
  if (!ReadDigits(s, pos, 2, &mi) || *pos >= s.size() || s[*pos] != ':') return false;
  ++*pos;
  if (!ReadDigits(s, pos, 2, &se)) return false;
  if (h > 23 || mi > 59 || se > 59) return false;
  int64_t frac = 0;
  if (*pos < s.size() && s[*pos] == '.') {
    ++*pos;
    int n = 0;
    while (*pos < s.size() && s[*pos] >= '0' && s[*pos] <= '9') {
      if (n == 6) return false;  // finer than microseconds
      frac = frac * 10 + (s[*pos] - '0');
      ++n;
      ++*pos;
    }
    if (n == 0) return false;
    for (; n < 6; ++n)
      frac *= 10;
  }
  *micros = ((h * 60 + mi) * 60 + se) * 1000000 + frac;
  return true;
}

}  // namespace

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2);
}

std::string FormatDate(int64_t days) {
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u", static_cast<long long>(y), m, d);
  return buf;
}

std::string FormatTimeOfDay(int64_t micros) {
  int64_t secs = micros / 1000000;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld.%06lld", static_cast<long long>(secs / 3600),
                static_cast<long long>(secs / 60 % 60), static_cast<long long>(secs % 60),
                static_cast<long long>(micros % 1000000));
  return buf;
}

std::string FormatTimestamp(int64_t micros) {
  int64_t days =
      micros >= 0 ? micros / kMicrosPerDay : -((-micros + kMicrosPerDay - 1) / kMicrosPerDay);
  return FormatDate(days) + "T" + FormatTimeOfDay(micros - days * kMicrosPerDay) + "Z";
}

std::string FormatDatetime(int64_t days, int64_t micros_of_day) {
  return FormatDate(days) + "T" + FormatTimeOfDay(micros_of_day);
}

Status CheckTimestampMicros(int64_t micros) {
  if (micros < kMinTimestampMicros || micros > kMaxTimestampMicros) {
    return Status::InvalidArgument(
        "Timestamp field value is out of range: " + std::to_string(micros) +
        " (valid: 0001-01-01 00:00:00 to 9999-12-31 23:59:59.999999 UTC)");
  }
  return Status::Ok();
}

Status CheckDateDays(int64_t days) {
  if (days < kMinDate || days > kMaxDate) {
    return Status::InvalidArgument("Date field value is out of range: " + std::to_string(days) +
                                   " days since epoch (valid: 0001-01-01 to 9999-12-31)");
  }
  return Status::Ok();
}

Result<int64_t> ParseDate(std::string_view text) {
  size_t pos = 0;
  int64_t days;
  if (!ParseDatePart(text, &pos, &days) || pos != text.size()) return Bad("DATE", text);
  return days;
}

Result<int64_t> ParseTimeOfDay(std::string_view text) {
  size_t pos = 0;
  int64_t micros;
  if (!ParseTimePart(text, &pos, &micros) || pos != text.size()) return Bad("TIME", text);
  return micros;
}

Status ParseDatetime(std::string_view text, int64_t* days, int64_t* micros_of_day) {
  size_t pos = 0;
  if (!ParseDatePart(text, &pos, days)) return Bad("DATETIME", text);
  *micros_of_day = 0;
  if (pos == text.size()) return Status::Ok();
  if (text[pos] != 'T' && text[pos] != ' ' && text[pos] != 't') return Bad("DATETIME", text);
  ++pos;
  if (!ParseTimePart(text, &pos, micros_of_day) || pos != text.size()) return Bad("DATETIME", text);
  return Status::Ok();
}

Result<int64_t> ParseTimestamp(std::string_view text) {
  size_t pos = 0;
  int64_t days, micros = 0;
  if (!ParseDatePart(text, &pos, &days)) return Bad("TIMESTAMP", text);
  if (pos < text.size() && (text[pos] == 'T' || text[pos] == ' ' || text[pos] == 't')) {
    ++pos;
    if (!ParseTimePart(text, &pos, &micros)) return Bad("TIMESTAMP", text);
  }
  int64_t offset_minutes = 0;
  std::string_view zone = text.substr(pos);
  if (!zone.empty() && zone[0] == ' ') zone.remove_prefix(1);
  if (zone.empty() || zone == "Z" || zone == "z" || zone == "UTC") {
    // UTC
  } else if (zone[0] == '+' || zone[0] == '-') {
    size_t zp = 1;
    int64_t hh, mm = 0;
    if (!ReadDigits(zone, &zp, 2, &hh)) return Bad("TIMESTAMP", text);
    if (zp < zone.size() && zone[zp] == ':') ++zp;
    if (zp < zone.size() && !ReadDigits(zone, &zp, 2, &mm)) return Bad("TIMESTAMP", text);
    if (zp != zone.size() || hh > 14 || mm > 59) return Bad("TIMESTAMP", text);
    offset_minutes = (hh * 60 + mm) * (zone[0] == '-' ? -1 : 1);
  } else {
    return Bad("TIMESTAMP", text);
  }
  int64_t value = days * kMicrosPerDay + micros - offset_minutes * 60 * 1000000;
  PG2BQ_RETURN_IF_ERROR(CheckTimestampMicros(value));
  return value;
}

Result<int64_t> DecodePackedTime(int64_t packed) {
  int64_t micros = packed & 0xFFFFF;
  int64_t second = (packed >> 20) & 0x3F;
  int64_t minute = (packed >> 26) & 0x3F;
  int64_t hour = (packed >> 32) & 0x1F;
  if ((packed >> 37) != 0 || micros > 999999 || second > 59 || minute > 59 || hour > 23) {
    return Status::InvalidArgument("Invalid packed TIME value " + std::to_string(packed));
  }
  return ((hour * 60 + minute) * 60 + second) * 1000000 + micros;
}

Status DecodePackedDatetime(int64_t packed, int64_t* days, int64_t* micros_of_day) {
  int64_t day = (packed >> 37) & 0x1F;
  int64_t month = (packed >> 42) & 0xF;
  int64_t year = (packed >> 46) & 0x3FFF;
  auto t = DecodePackedTime(packed & ((int64_t{1} << 37) - 1));
  if (!t.ok() || (packed >> 60) != 0 || year < 1 || month < 1 || month > 12 || day < 1 ||
      day > DaysInMonth(year, static_cast<unsigned>(month))) {
    return Status::InvalidArgument("Invalid packed DATETIME value " + std::to_string(packed));
  }
  *days = DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  *micros_of_day = *t;
  return Status::Ok();
}

Status CheckDecimal(std::string_view text, int max_integer_digits, int max_fraction_digits) {
  // Counts instead of strings: the significant digits before and after the
  // point are known from where the point lands among the digits and how many
  // zeros lead and trail them.
  size_t pos = 0;
  if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) ++pos;
  int64_t count = 0;     // digits, without the point
  int64_t leading = 0;   // zeros before the first non-zero digit
  int64_t trailing = 0;  // zeros after the last non-zero digit
  int64_t point = -1;    // digits before the decimal point
  for (; pos < text.size(); ++pos) {
    char c = text[pos];
    if (c >= '0' && c <= '9') {
      if (c == '0') {
        if (leading == count) ++leading;
        ++trailing;
      } else {
        trailing = 0;
      }
      ++count;
    } else if (c == '.' && point < 0) {
      point = count;
    } else {
      break;
    }
  }
  bool any = count > 0;
  if (point < 0) point = count;
  if (pos < text.size() && (text[pos] == 'e' || text[pos] == 'E')) {
    ++pos;
    bool eneg = false;
    if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) eneg = text[pos++] == '-';
    int64_t e = 0;
    size_t start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9' && e < 100000) {
      e = e * 10 + (text[pos++] - '0');
    }
    if (pos == start) any = false;
    point += eneg ? -e : e;
  }
  if (!any || pos != text.size()) {
    return Status::InvalidArgument("Invalid decimal value '" + std::string(text) + "'");
  }
  bool zero = leading == count;
  int64_t integer_digits = point <= 0 || leading >= std::min(point, count) ? 0 : point - leading;
  int64_t fraction_digits = zero ? 0 : std::max<int64_t>(0, count - trailing - point);
  if (integer_digits > max_integer_digits) {
    return Status::InvalidArgument("Decimal value '" + std::string(text) + "' has more than " +
                                   std::to_string(max_integer_digits) +
                                   " digits before the decimal point");
  }
  if (fraction_digits > max_fraction_digits) {
    return Status::InvalidArgument("Decimal value '" + std::string(text) + "' has more than " +
                                   std::to_string(max_fraction_digits) +
                                   " digits after the decimal point");
  }
  return Status::Ok();
}

Result<std::string> NormalizeDecimal(std::string_view text, int max_integer_digits,
                                     int max_fraction_digits) {
  PG2BQ_RETURN_IF_ERROR(CheckDecimal(text, max_integer_digits, max_fraction_digits));
  // Valid from here on: collect the digits, then re-place the point.
  size_t pos = 0;
  bool negative = false;
  if (text[pos] == '+' || text[pos] == '-') negative = text[pos++] == '-';
  std::string digits;
  int64_t point = -1;
  for (; pos < text.size(); ++pos) {
    char c = text[pos];
    if (c >= '0' && c <= '9') {
      digits.push_back(c);
    } else if (c == '.' && point < 0) {
      point = static_cast<int64_t>(digits.size());
    } else {
      break;
    }
  }
  if (point < 0) point = static_cast<int64_t>(digits.size());
  if (pos < text.size()) {  // exponent
    ++pos;
    bool eneg = false;
    if (text[pos] == '+' || text[pos] == '-') eneg = text[pos++] == '-';
    int64_t e = 0;
    while (pos < text.size())
      e = e * 10 + (text[pos++] - '0');
    point += eneg ? -e : e;
  }
  std::string int_part, frac_part;
  if (point <= 0) {
    int_part = "0";
    frac_part = std::string(static_cast<size_t>(-point), '0') + digits;
  } else if (point >= static_cast<int64_t>(digits.size())) {
    int_part = digits + std::string(static_cast<size_t>(point) - digits.size(), '0');
  } else {
    int_part = digits.substr(0, static_cast<size_t>(point));
    frac_part = digits.substr(static_cast<size_t>(point));
  }
  size_t nz = int_part.find_first_not_of('0');
  int_part = nz == std::string::npos ? "0" : int_part.substr(nz);
  while (!frac_part.empty() && frac_part.back() == '0')
    frac_part.pop_back();
  std::string out = int_part;
  if (!frac_part.empty()) out += "." + frac_part;
  if (negative && out != "0") out = "-" + out;
  return out;
}

std::string DecimalFromScaledBytes(std::string_view bytes, int scale) {
  // Magnitude, little endian, of the two's complement value.
  std::vector<unsigned> mag(bytes.begin(), bytes.end());
  for (auto& b : mag)
    b &= 0xFF;
  bool negative = !mag.empty() && (mag.back() & 0x80);
  if (negative) {
    unsigned carry = 1;
    for (auto& b : mag) {
      b = (~b & 0xFF) + carry;
      carry = b >> 8;
      b &= 0xFF;
    }
  }
  std::string digits;
  while (true) {
    bool zero = true;
    unsigned rem = 0;
    for (size_t i = mag.size(); i-- > 0;) {
      unsigned cur = (rem << 8) | mag[i];
      mag[i] = cur / 10;
      rem = cur % 10;
      if (mag[i]) zero = false;
    }
    digits.insert(digits.begin(), static_cast<char>('0' + rem));
    if (zero) break;
  }
  if (static_cast<int>(digits.size()) <= scale) {
    digits.insert(0, static_cast<size_t>(scale) - digits.size() + 1, '0');
  }
  std::string text = digits.substr(0, digits.size() - static_cast<size_t>(scale));
  if (scale > 0) text += "." + digits.substr(digits.size() - static_cast<size_t>(scale));
  return (negative ? "-" : "") + text;
}

std::string Base64Encode(std::string_view in) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                 (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

Result<std::string> Base64Decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  unsigned acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    int v = value(c);
    if (v < 0) return Status::InvalidArgument("invalid base64 text");
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

}  // namespace pg2bq::bqemu
