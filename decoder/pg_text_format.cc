#include "decoder/pg_text_format.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <system_error>

namespace pg2bq {

namespace {

constexpr std::int64_t kMicrosPerSecond = 1000000;
constexpr std::int64_t kMicrosPerDay = 86400 * kMicrosPerSecond;

void AppendZeroPad(std::string* out, std::uint64_t v, int width) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  int len = static_cast<int>(res.ptr - buf);
  for (int i = len; i < width; ++i)
    out->push_back('0');
  out->append(buf, static_cast<std::size_t>(len));
}

template <typename T>
void AppendInt(std::string* out, T v) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, static_cast<std::size_t>(res.ptr - buf));
}

// AppendSeconds(): "SS" then ".ffffff" with trailing zeros trimmed.
void AppendSecondsFrac(std::string* out, std::int64_t sec, std::int64_t frac_micros) {
  AppendZeroPad(out, static_cast<std::uint64_t>(sec < 0 ? -sec : sec), 2);
  std::int64_t f = frac_micros < 0 ? -frac_micros : frac_micros;
  if (f == 0) return;
  char digits[6];
  for (int i = 5; i >= 0; --i) {
    digits[i] = static_cast<char>('0' + f % 10);
    f /= 10;
  }
  int n = 6;
  while (n > 0 && digits[n - 1] == '0')
    --n;
  out->push_back('.');
  out->append(digits, static_cast<std::size_t>(n));
}

void AppendTimeOfDay(std::string* out, std::int64_t micros) {
  std::int64_t sec_total = micros / kMicrosPerSecond;
  AppendZeroPad(out, static_cast<std::uint64_t>(sec_total / 3600), 2);
  out->push_back(':');
  AppendZeroPad(out, static_cast<std::uint64_t>(sec_total / 60 % 60), 2);
  out->push_back(':');
  AppendSecondsFrac(out, sec_total % 60, micros % kMicrosPerSecond);
}

// EncodeTimezone(): "+HH", "+HH:MM" or "+HH:MM:SS"; tz is seconds west.
void AppendZone(std::string* out, std::int32_t tz) {
  std::int64_t sec = tz < 0 ? -std::int64_t{tz} : tz;
  std::int64_t min = sec / 60;
  sec -= min * 60;
  std::int64_t hour = min / 60;
  min -= hour * 60;
  out->push_back(tz <= 0 ? '+' : '-');
  AppendZeroPad(out, static_cast<std::uint64_t>(hour), 2);
  if (sec != 0) {
    out->push_back(':');
    AppendZeroPad(out, static_cast<std::uint64_t>(min), 2);
    out->push_back(':');
    AppendZeroPad(out, static_cast<std::uint64_t>(sec), 2);
  } else if (min != 0) {
    out->push_back(':');
    AppendZeroPad(out, static_cast<std::uint64_t>(min), 2);
  }
}

// Year as PostgreSQL prints it (year <= 0 is shown as 1-year plus " BC").
void AppendCivilDate(std::string* out, int y, int m, int d) {
  AppendZeroPad(out, static_cast<std::uint64_t>(y > 0 ? y : -(y - 1)), 4);
  out->push_back('-');
  AppendZeroPad(out, static_cast<std::uint64_t>(m), 2);
  out->push_back('-');
  AppendZeroPad(out, static_cast<std::uint64_t>(d), 2);
}

// Shortest-exact float output in PostgreSQL's layout (src/common/d2s.c,
// f2s.c): fixed notation for decimal exponents in [-4, max_fixed), else
// d.ddde+XX.
template <typename T>
void AppendShortestFloat(std::string* out, T v, int max_fixed_exponent) {
  if (std::isnan(v)) {
    out->append("NaN");
    return;
  }
  if (std::isinf(v)) {
    out->append(v < 0 ? "-Infinity" : "Infinity");
    return;
  }
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<std::size_t>(res.ptr - buf));
  std::size_t epos = sci.find('e');
  std::string_view mant = sci.substr(0, epos);
  int exp = 0;
  std::from_chars(sci.data() + epos + 1 + (sci[epos + 1] == '+'), sci.data() + sci.size(), exp);
  bool neg = false;
  if (!mant.empty() && mant[0] == '-') {
    neg = true;
    mant.remove_prefix(1);
  }
  char digits[32];
  std::size_t nd = 0;
  for (char c : mant) {
    if (c != '.') digits[nd++] = c;
  }
  if (exp < -4 || exp >= max_fixed_exponent) {
    out->append(sci);  // to_chars already prints "1.5e-05" / "1e+16" like printf
    return;
  }
  if (neg) out->push_back('-');
  if (exp < 0) {
    out->append("0.");
    out->append(static_cast<std::size_t>(-exp - 1), '0');
    out->append(digits, nd);
    return;
  }
  std::size_t int_digits = static_cast<std::size_t>(exp) + 1;
  if (nd <= int_digits) {
    out->append(digits, nd);
    out->append(int_digits - nd, '0');
  } else {
    out->append(digits, int_digits);
    out->push_back('.');
    out->append(digits + int_digits, nd - int_digits);
  }
}

bool ArrayElementNeedsQuotes(std::string_view s) {
  if (s.empty()) return true;
  if (s.size() == 4 && (s[0] | 0x20) == 'n' && (s[1] | 0x20) == 'u' && (s[2] | 0x20) == 'l' &&
      (s[3] | 0x20) == 'l') {
    return true;
  }
  for (char c : s) {
    switch (c) {
      case '"':
      case '\\':
      case '{':
      case '}':
      case ',':
      case ' ':
      case '\t':
      case '\n':
      case '\r':
      case '\v':
      case '\f':
        return true;
      default:
        break;
    }
  }
  return false;
}

Status AppendBinaryArray(const PgArray& a, std::string* out) {
  if (a.ndim == 0) {
    out->append("{}");
    return Status::Ok();
  }
  bool default_bounds = true;
  for (int i = 0; i < a.ndim; ++i)
    default_bounds &= a.lbounds[static_cast<std::size_t>(i)] == 1;
  if (!default_bounds) {
    for (int i = 0; i < a.ndim; ++i) {
      const auto u = static_cast<std::size_t>(i);
      out->push_back('[');
      AppendInt(out, a.lbounds[u]);
      out->push_back(':');
      AppendInt(out, std::int64_t{a.lbounds[u]} + a.dims[u] - 1);
      out->push_back(']');
    }
    out->push_back('=');
  }
  std::int64_t total = 1;
  for (int i = 0; i < a.ndim; ++i)
    total *= a.dims[static_cast<std::size_t>(i)];
  if (total == 0) {
    out->append("{}");
    return Status::Ok();
  }
  PgArrayReader reader(a);
  PgValue elem;
  std::string text;
  // indices[d] counts elements emitted at depth d; braces open and close as
  // the flattened index crosses dimension boundaries, like array_out().
  std::array<std::int32_t, 6> idx{};
  for (int i = 0; i < a.ndim; ++i)
    out->push_back('{');
  for (std::int64_t n = 0; n < total; ++n) {
    if (n > 0) {
      // Close and reopen the dimensions that wrapped.
      int d = a.ndim - 1;
      int wrapped = 0;
      while (d > 0 && idx[static_cast<std::size_t>(d)] == a.dims[static_cast<std::size_t>(d)]) {
        idx[static_cast<std::size_t>(d)] = 0;
        ++idx[static_cast<std::size_t>(d - 1)];
        ++wrapped;
        --d;
      }
      for (int i = 0; i < wrapped; ++i)
        out->push_back('}');
      out->push_back(',');
      for (int i = 0; i < wrapped; ++i)
        out->push_back('{');
    }
    PG2BQ_ASSIGN_OR_RETURN(bool more, reader.Next(&elem));
    if (!more) return Status::Corruption("array has fewer elements than its dimensions say");
    if (elem.is_null) {
      out->append("NULL");
    } else {
      text.clear();
      PG2BQ_RETURN_IF_ERROR(AppendPgText(elem, &text));
      if (ArrayElementNeedsQuotes(text)) {
        out->push_back('"');
        for (char c : text) {
          if (c == '"' || c == '\\') out->push_back('\\');
          out->push_back(c);
        }
        out->push_back('"');
      } else {
        out->append(text);
      }
    }
    ++idx[static_cast<std::size_t>(a.ndim - 1)];
  }
  PG2BQ_ASSIGN_OR_RETURN(bool extra, reader.Next(&elem));
  if (extra) return Status::Corruption("array has more elements than its dimensions say");
  for (int i = 0; i < a.ndim; ++i)
    out->push_back('}');
  return Status::Ok();
}

}  // namespace

void AppendPgFloat8(double v, std::string* out) {
  AppendShortestFloat(out, v, 15);
}
void AppendPgFloat4(float v, std::string* out) {
  AppendShortestFloat(out, v, 6);
}

void AppendPgNumeric(const PgNumeric& v, std::string* out) {
  switch (v.special) {
    case PgNumeric::Special::kNaN:
      out->append("NaN");
      return;
    case PgNumeric::Special::kPosInfinity:
      out->append("Infinity");
      return;
    case PgNumeric::Special::kNegInfinity:
      out->append("-Infinity");
      return;
    case PgNumeric::Special::kFinite:
      break;
  }
  const std::size_t ndigits = v.digits.size() / 2;
  auto digit = [&](std::int64_t i) -> unsigned {
    if (i < 0 || static_cast<std::size_t>(i) >= ndigits) return 0;
    const auto u = static_cast<std::size_t>(i) * 2;
    return (static_cast<unsigned char>(v.digits[u]) << 8) |
           static_cast<unsigned char>(v.digits[u + 1]);
  };
  if (v.negative) out->push_back('-');
  // get_str_from_var(): integer part, then dscale fractional digits.
  if (v.weight < 0) {
    out->push_back('0');
  } else {
    for (std::int64_t d = 0; d <= v.weight; ++d) {
      unsigned dig = digit(d);
      if (d == 0) {
        AppendInt(out, dig);
      } else {
        AppendZeroPad(out, dig, 4);
      }
    }
  }
  if (v.dscale > 0) {
    out->push_back('.');
    std::size_t emitted = 0;
    for (std::int64_t d = std::int64_t{v.weight} + 1; emitted < v.dscale; ++d) {
      unsigned dig = digit(d);
      char four[4] = {static_cast<char>('0' + dig / 1000), static_cast<char>('0' + dig / 100 % 10),
                      static_cast<char>('0' + dig / 10 % 10), static_cast<char>('0' + dig % 10)};
      std::size_t take = std::min<std::size_t>(4, v.dscale - emitted);
      out->append(four, take);
      emitted += take;
    }
  }
}

void AppendPgDate(std::int32_t days, std::string* out) {
  if (days == kPgDateNegInfinity) {
    out->append("-infinity");
    return;
  }
  if (days == kPgDatePosInfinity) {
    out->append("infinity");
    return;
  }
  int y = 0, m = 0, d = 0;
  PgDateToCivil(days, &y, &m, &d);
  AppendCivilDate(out, y, m, d);
  if (y <= 0) out->append(" BC");
}

void AppendPgTime(std::int64_t micros, std::string* out) {
  AppendTimeOfDay(out, micros);
}

void AppendPgTimeTz(const PgTimeTz& v, std::string* out) {
  AppendTimeOfDay(out, v.micros);
  AppendZone(out, v.zone_seconds_west);
}

void AppendPgTimestamp(std::int64_t micros, bool with_zone_utc, std::string* out) {
  if (micros == kPgTimestampNegInfinity) {
    out->append("-infinity");
    return;
  }
  if (micros == kPgTimestampPosInfinity) {
    out->append("infinity");
    return;
  }
  std::int64_t days = micros / kMicrosPerDay;
  std::int64_t tod = micros % kMicrosPerDay;
  if (tod < 0) {
    tod += kMicrosPerDay;
    --days;
  }
  int y = 0, m = 0, d = 0;
  PgDateToCivil(static_cast<std::int32_t>(days), &y, &m, &d);
  AppendCivilDate(out, y, m, d);
  out->push_back(' ');
  AppendTimeOfDay(out, tod);
  if (with_zone_utc) out->append("+00");
  if (y <= 0) out->append(" BC");
}

void AppendPgInterval(const PgInterval& v, std::string* out) {
  // EncodeInterval(), IntervalStyle postgres.
  const std::int64_t year = v.months / 12;
  const std::int64_t mon = v.months % 12;
  const std::int64_t mday = v.days;
  std::int64_t time = v.micros;
  const std::int64_t hour = time / (3600 * kMicrosPerSecond);
  time -= hour * 3600 * kMicrosPerSecond;
  const std::int64_t min = time / (60 * kMicrosPerSecond);
  time -= min * 60 * kMicrosPerSecond;
  const std::int64_t sec = time / kMicrosPerSecond;
  const std::int64_t fsec = time - sec * kMicrosPerSecond;

  bool is_zero = true;
  bool is_before = false;
  auto part = [&](std::int64_t value, const char* units) {
    if (value == 0) return;
    if (!is_zero) out->push_back(' ');
    if (is_before && value > 0) out->push_back('+');
    AppendInt(out, value);
    out->push_back(' ');
    out->append(units);
    if (value != 1) out->push_back('s');
    is_before = value < 0;
    is_zero = false;
  };
  part(year, "year");
  part(mon, "mon");
  part(mday, "day");
  if (is_zero || hour != 0 || min != 0 || sec != 0 || fsec != 0) {
    const bool minus = hour < 0 || min < 0 || sec < 0 || fsec < 0;
    if (!is_zero) out->push_back(' ');
    if (minus) {
      out->push_back('-');
    } else if (is_before) {
      out->push_back('+');
    }
    // hour can be INT64_MIN / 3.6e9 at most, so negating is safe.
    AppendZeroPad(out, static_cast<std::uint64_t>(hour < 0 ? -hour : hour), 2);
    out->push_back(':');
    AppendZeroPad(out, static_cast<std::uint64_t>(min < 0 ? -min : min), 2);
    out->push_back(':');
    AppendSecondsFrac(out, sec, fsec);
  }
}

void AppendPgBytea(std::string_view raw, std::string* out) {
  static const char kHex[] = "0123456789abcdef";
  std::size_t base = out->size();
  out->resize(base + 2 + raw.size() * 2);
  char* p = out->data() + base;
  *p++ = '\\';
  *p++ = 'x';
  for (char c : raw) {
    auto b = static_cast<unsigned char>(c);
    *p++ = kHex[b >> 4];
    *p++ = kHex[b & 15];
  }
}

void AppendPgUuid(const std::array<std::uint8_t, 16>& v, std::string* out) {
  static const char kHex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out->push_back('-');
    out->push_back(kHex[v[i] >> 4]);
    out->push_back(kHex[v[i] & 15]);
  }
}

void AppendPgMacaddr(const std::array<std::uint8_t, 6>& v, std::string* out) {
  static const char kHex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < 6; ++i) {
    if (i > 0) out->push_back(':');
    out->push_back(kHex[v[i] >> 4]);
    out->push_back(kHex[v[i] & 15]);
  }
}

void AppendPgInet(const PgInet& v, std::string* out) {
  // network_out() / pg_inet_net_ntop() (src/port/inet_net_ntop.c).
  if (v.family == 4) {
    for (std::size_t i = 0; i < 4; ++i) {
      if (i > 0) out->push_back('.');
      AppendInt(out, unsigned{v.address[i]});
    }
    if (v.bits != 32 || v.is_cidr) {
      out->push_back('/');
      AppendInt(out, unsigned{v.bits});
    }
    return;
  }
  unsigned words[8];
  for (std::size_t i = 0; i < 8; ++i)
    words[i] = (unsigned{v.address[2 * i]} << 8) | v.address[2 * i + 1];
  int best_base = -1, best_len = 0, cur_base = -1, cur_len = 0;
  for (int i = 0; i < 8; ++i) {
    if (words[i] == 0) {
      if (cur_base == -1) {
        cur_base = i;
        cur_len = 1;
      } else {
        ++cur_len;
      }
    } else if (cur_base != -1) {
      if (best_base == -1 || cur_len > best_len) {
        best_base = cur_base;
        best_len = cur_len;
      }
      cur_base = -1;
    }
  }
  if (cur_base != -1 && (best_base == -1 || cur_len > best_len)) {
    best_base = cur_base;
    best_len = cur_len;
  }
  if (best_base != -1 && best_len < 2) best_base = -1;
  char hex[8];
  for (int i = 0; i < 8; ++i) {
    if (best_base != -1 && i >= best_base && i < best_base + best_len) {
      if (i == best_base) out->push_back(':');
      continue;
    }
    if (i != 0) out->push_back(':');
    if (i == 6 && best_base == 0 && (best_len == 6 || (best_len == 5 && words[5] == 0xffff))) {
      for (std::size_t j = 12; j < 16; ++j) {
        if (j > 12) out->push_back('.');
        AppendInt(out, unsigned{v.address[j]});
      }
      break;
    }
    auto res = std::to_chars(hex, hex + sizeof hex, words[i], 16);
    out->append(hex, static_cast<std::size_t>(res.ptr - hex));
  }
  if (best_base != -1 && best_base + best_len == 8) out->push_back(':');
  if (v.bits != 128 || v.is_cidr) {
    out->push_back('/');
    AppendInt(out, unsigned{v.bits});
  }
}

void AppendPgMoney(std::int64_t cents, std::string* out) {
  // cash_out() with lc_monetary C: "-$1,234.56".
  std::uint64_t u =
      cents < 0 ? 0 - static_cast<std::uint64_t>(cents) : static_cast<std::uint64_t>(cents);
  if (cents < 0) out->push_back('-');
  out->push_back('$');
  std::uint64_t whole = u / 100;
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof buf, whole);
  std::size_t len = static_cast<std::size_t>(res.ptr - buf);
  for (std::size_t i = 0; i < len; ++i) {
    if (i > 0 && (len - i) % 3 == 0) out->push_back(',');
    out->push_back(buf[i]);
  }
  out->push_back('.');
  AppendZeroPad(out, u % 100, 2);
}

Status AppendPgText(const PgValue& v, std::string* out) {
  if (v.format == ColumnState::kText || v.is_text) {
    out->append(v.text);
    return Status::Ok();
  }
  switch (v.kind) {
    case PgTypeKind::kBool:
      out->push_back(v.boolean ? 't' : 'f');
      break;
    case PgTypeKind::kInt2:
    case PgTypeKind::kInt4:
    case PgTypeKind::kInt8:
    case PgTypeKind::kOid:
      AppendInt(out, v.int64);
      break;
    case PgTypeKind::kFloat4:
      AppendPgFloat4(static_cast<float>(v.float64), out);
      break;
    case PgTypeKind::kFloat8:
      AppendPgFloat8(v.float64, out);
      break;
    case PgTypeKind::kNumeric:
      AppendPgNumeric(v.numeric, out);
      break;
    case PgTypeKind::kBytea:
      AppendPgBytea(v.bytes, out);
      break;
    case PgTypeKind::kUuid:
      AppendPgUuid(v.uuid, out);
      break;
    case PgTypeKind::kDate:
      AppendPgDate(v.date, out);
      break;
    case PgTypeKind::kTime:
      AppendPgTime(v.int64, out);
      break;
    case PgTypeKind::kTimeTz:
      AppendPgTimeTz(v.timetz, out);
      break;
    case PgTypeKind::kTimestamp:
      AppendPgTimestamp(v.int64, false, out);
      break;
    case PgTypeKind::kTimestampTz:
      AppendPgTimestamp(v.int64, true, out);
      break;
    case PgTypeKind::kInterval:
      AppendPgInterval(v.interval, out);
      break;
    case PgTypeKind::kInet:
    case PgTypeKind::kCidr:
      AppendPgInet(v.inet, out);
      break;
    case PgTypeKind::kMacaddr:
      AppendPgMacaddr(v.macaddr, out);
      break;
    case PgTypeKind::kMoney:
      AppendPgMoney(v.int64, out);
      break;
    case PgTypeKind::kArray:
      return AppendBinaryArray(v.array, out);
    case PgTypeKind::kText:
    case PgTypeKind::kEnum:
    case PgTypeKind::kJson:
    case PgTypeKind::kJsonb:
    case PgTypeKind::kUnknown:
      out->append(v.text);
      break;
  }
  return Status::Ok();
}

}  // namespace pg2bq
