#include "decoder/pg_value.h"

#include <charconv>
#include <cstring>
#include <limits>

#include "decoder/byte_reader.h"

namespace pg2bq {

namespace {

constexpr std::int64_t kMicrosPerSecond = 1000000;
constexpr std::int64_t kMicrosPerDay = 86400 * kMicrosPerSecond;

Status Bad(const PgType& type, ColumnState format, std::string_view what, std::string_view data) {
  std::string msg(PgTypeKindName(type.kind));
  msg += format == ColumnState::kBinary ? " (binary, type OID " : " (text, type OID ";
  msg += std::to_string(type.oid);
  msg += "): ";
  msg += what;
  if (format == ColumnState::kText) {
    msg += ": \"";
    msg.append(data.substr(0, 64));
    if (data.size() > 64) msg += "...";
    msg += '"';
  } else {
    msg += " (" + std::to_string(data.size()) + " bytes)";
  }
  return Status::Corruption(std::move(msg));
}

// ---------------------------------------------------------------- text parsing

// Parses [0-9]+ into *v; advances *p.
bool ParseDigits(std::string_view s, std::size_t* p, std::int64_t* v, int max_digits = 18) {
  std::size_t start = *p;
  std::int64_t acc = 0;
  while (*p < s.size() && s[*p] >= '0' && s[*p] <= '9') {
    if (static_cast<int>(*p - start) >= max_digits) return false;
    acc = acc * 10 + (s[*p] - '0');
    ++*p;
  }
  *v = acc;
  return *p > start;
}

bool Expect(std::string_view s, std::size_t* p, char c) {
  if (*p < s.size() && s[*p] == c) {
    ++*p;
    return true;
  }
  return false;
}

// ".ffffff" (1-6 digits) -> microseconds.
bool ParseFraction(std::string_view s, std::size_t* p, std::int64_t* micros) {
  *micros = 0;
  if (!Expect(s, p, '.')) return true;
  int n = 0;
  std::int64_t acc = 0;
  while (*p < s.size() && s[*p] >= '0' && s[*p] <= '9') {
    if (n == 6) return false;
    acc = acc * 10 + (s[*p] - '0');
    ++n;
    ++*p;
  }
  if (n == 0) return false;
  while (n++ < 6)
    acc *= 10;
  *micros = acc;
  return true;
}

// "HH:MM:SS[.ffffff]" -> microseconds since midnight.
bool ParseTimeOfDay(std::string_view s, std::size_t* p, std::int64_t* micros) {
  std::int64_t h = 0, m = 0, sec = 0, frac = 0;
  if (!ParseDigits(s, p, &h, 2) || !Expect(s, p, ':') || !ParseDigits(s, p, &m, 2) ||
      !Expect(s, p, ':') || !ParseDigits(s, p, &sec, 2) || !ParseFraction(s, p, &frac)) {
    return false;
  }
  if (m > 59 || sec > 60) return false;
  *micros = ((h * 60 + m) * 60 + sec) * kMicrosPerSecond + frac;
  return *micros <= kMicrosPerDay;
}

// "+HH[:MM[:SS]]" -> seconds west of UTC (PostgreSQL's sign convention).
bool ParseZone(std::string_view s, std::size_t* p, std::int32_t* seconds_west) {
  if (*p >= s.size() || (s[*p] != '+' && s[*p] != '-')) return false;
  bool east = s[*p] == '+';
  ++*p;
  std::int64_t h = 0, m = 0, sec = 0;
  if (!ParseDigits(s, p, &h, 2)) return false;
  if (Expect(s, p, ':')) {
    if (!ParseDigits(s, p, &m, 2)) return false;
    if (Expect(s, p, ':') && !ParseDigits(s, p, &sec, 2)) return false;
  }
  std::int64_t total = h * 3600 + m * 60 + sec;
  *seconds_west = static_cast<std::int32_t>(east ? -total : total);
  return true;
}

// "YYYY-MM-DD" (year may have more digits) -> civil fields; BC handled by caller.
bool ParseCivilDate(std::string_view s, std::size_t* p, int* y, int* mo, int* d) {
  std::int64_t yy = 0, mm = 0, dd = 0;
  if (!ParseDigits(s, p, &yy, 7) || !Expect(s, p, '-') || !ParseDigits(s, p, &mm, 2) ||
      !Expect(s, p, '-') || !ParseDigits(s, p, &dd, 2)) {
    return false;
  }
  if (mm < 1 || mm > 12 || dd < 1 || dd > 31) return false;
  *y = static_cast<int>(yy);
  *mo = static_cast<int>(mm);
  *d = static_cast<int>(dd);
  return true;
}

bool ConsumeBc(std::string_view s, std::size_t* p) {
  if (s.substr(*p) == " BC") {
    *p = s.size();
    return true;
  }
  return false;
}

template <typename T>
bool ParseInt(std::string_view s, T* v) {
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  return ec == std::errc() && ptr == s.data() + s.size();
}

bool ParseFloatText(std::string_view s, bool is_float4, double* v) {
  if (s == "NaN") {
    *v = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  if (s == "Infinity") {
    *v = std::numeric_limits<double>::infinity();
    return true;
  }
  if (s == "-Infinity") {
    *v = -std::numeric_limits<double>::infinity();
    return true;
  }
  if (is_float4) {
    float f = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), f);
    if (ec != std::errc() || ptr != s.data() + s.size()) return false;
    *v = f;
    return true;
  }
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  return ec == std::errc() && ptr == s.data() + s.size();
}

// A table: a uuid is 32 digits, and the branches were a visible share of text decoding.
constexpr std::array<std::int8_t, 256> kHexValues = [] {
  std::array<std::int8_t, 256> t{};
  for (auto& v : t)
    v = -1;
  for (int c = '0'; c <= '9'; ++c)
    t[static_cast<std::size_t>(c)] = static_cast<std::int8_t>(c - '0');
  for (int c = 'a'; c <= 'f'; ++c)
    t[static_cast<std::size_t>(c)] = static_cast<std::int8_t>(c - 'a' + 10);
  for (int c = 'A'; c <= 'F'; ++c)
    t[static_cast<std::size_t>(c)] = static_cast<std::int8_t>(c - 'A' + 10);
  return t;
}();

int HexValue(char c) {
  return kHexValues[static_cast<unsigned char>(c)];
}

bool ParseUuidText(std::string_view s, std::array<std::uint8_t, 16>* out) {
  if (s.size() != 36) return false;
  std::size_t j = 0;
  for (std::size_t i = 0; i < 36;) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return false;
      ++i;
      continue;
    }
    int hi = HexValue(s[i]), lo = HexValue(s[i + 1]);
    if (hi < 0 || lo < 0) return false;
    (*out)[j++] = static_cast<std::uint8_t>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

bool ParseTimestampText(std::string_view s, bool with_zone, std::int64_t* micros) {
  if (s == "infinity") {
    *micros = kPgTimestampPosInfinity;
    return true;
  }
  if (s == "-infinity") {
    *micros = kPgTimestampNegInfinity;
    return true;
  }
  std::size_t p = 0;
  int y = 0, mo = 0, d = 0;
  std::int64_t tod = 0;
  if (!ParseCivilDate(s, &p, &y, &mo, &d) || !Expect(s, &p, ' ') || !ParseTimeOfDay(s, &p, &tod)) {
    return false;
  }
  std::int32_t zone_west = 0;
  if (with_zone && !ParseZone(s, &p, &zone_west)) return false;
  if (ConsumeBc(s, &p)) y = 1 - y;
  if (p != s.size()) return false;
  // PostgreSQL's timestamp range is 4714-11-24 BC .. 294276 AD; anything
  // further out cannot come from the server and would overflow below.
  if (y < -4713 || y > 294277) return false;
  const std::int64_t days = PgCivilToDate(y, mo, d);
  std::int64_t t = 0;
  if (__builtin_mul_overflow(days, kMicrosPerDay, &t) || __builtin_add_overflow(t, tod, &t) ||
      __builtin_add_overflow(t, std::int64_t{zone_west} * kMicrosPerSecond, &t)) {
    return false;
  }
  // MIN_TIMESTAMP / END_TIMESTAMP from src/include/datatype/timestamp.h.
  if (t < -211813488000000000LL || t >= 9223371331200000000LL) return false;
  *micros = t;
  return true;
}

bool ParseDateText(std::string_view s, std::int32_t* days) {
  if (s == "infinity") {
    *days = kPgDatePosInfinity;
    return true;
  }
  if (s == "-infinity") {
    *days = kPgDateNegInfinity;
    return true;
  }
  std::size_t p = 0;
  int y = 0, mo = 0, d = 0;
  if (!ParseCivilDate(s, &p, &y, &mo, &d)) return false;
  if (ConsumeBc(s, &p)) y = 1 - y;
  if (p != s.size()) return false;
  if (y < -4713 || y > 5874897) return false;  // date's range (4714 BC .. 5874897 AD)
  *days = PgCivilToDate(y, mo, d);
  return true;
}

// IntervalStyle postgres: "1 year 2 mons -3 days +04:05:06.5", "00:00:00", "-00:00:01".
bool ParseIntervalText(std::string_view s, PgInterval* out) {
  *out = PgInterval{};
  std::size_t p = 0;
  std::int64_t months = 0, days = 0;
  while (p < s.size()) {
    if (s[p] == ' ') {
      ++p;
      continue;
    }
    std::size_t tok_end = s.find(' ', p);
    if (tok_end == std::string_view::npos) tok_end = s.size();
    std::string_view tok = s.substr(p, tok_end - p);
    if (tok.find(':') != std::string_view::npos) {
      bool neg = false;
      std::size_t q = 0;
      if (tok[0] == '-' || tok[0] == '+') {
        neg = tok[0] == '-';
        ++q;
      }
      std::int64_t h = 0, m = 0, sec = 0, frac = 0;
      if (!ParseDigits(tok, &q, &h, 16) || !Expect(tok, &q, ':') || !ParseDigits(tok, &q, &m, 2) ||
          !Expect(tok, &q, ':') || !ParseDigits(tok, &q, &sec, 2) ||
          !ParseFraction(tok, &q, &frac) || q != tok.size()) {
        return false;
      }
      if (h > std::numeric_limits<std::int64_t>::max() / (3600 * kMicrosPerSecond) - 1) {
        return false;
      }
      std::int64_t t = h * 3600 * kMicrosPerSecond + (m * 60 + sec) * kMicrosPerSecond + frac;
      out->micros = neg ? -t : t;
      p = tok_end;
      continue;
    }
    std::int64_t n = 0;
    if (tok.size() > 1 && tok[0] == '+') tok.remove_prefix(1);  // "+3 days" after a negative part
    if (!ParseInt(tok, &n)) return false;
    // Every field must fit int32 on its own; the sums are range-checked below.
    if (n > INT32_MAX || n < INT32_MIN) return false;
    p = tok_end;
    while (p < s.size() && s[p] == ' ')
      ++p;
    std::size_t unit_end = s.find(' ', p);
    if (unit_end == std::string_view::npos) unit_end = s.size();
    std::string_view unit = s.substr(p, unit_end - p);
    p = unit_end;
    if (unit == "year" || unit == "years") {
      months += n * 12;
    } else if (unit == "mon" || unit == "mons") {
      months += n;
    } else if (unit == "day" || unit == "days") {
      days += n;
    } else {
      return false;
    }
    if (months > INT32_MAX || months < INT32_MIN || days > INT32_MAX || days < INT32_MIN) {
      return false;
    }
  }
  out->months = static_cast<std::int32_t>(months);
  out->days = static_cast<std::int32_t>(days);
  return true;
}

// lc_monetary C: "$1,234.56", "-$0.01".
bool ParseMoneyText(std::string_view s, std::int64_t* cents) {
  std::size_t p = 0;
  bool neg = Expect(s, &p, '-');
  if (!Expect(s, &p, '$')) return false;
  std::uint64_t acc = 0;
  int frac_digits = -1;
  bool any = false;
  for (; p < s.size(); ++p) {
    char c = s[p];
    if (c == ',') continue;
    if (c == '.') {
      if (frac_digits >= 0) return false;
      frac_digits = 0;
      continue;
    }
    if (c < '0' || c > '9') return false;
    if (acc > (std::numeric_limits<std::uint64_t>::max() - 9) / 10) return false;
    acc = acc * 10 + static_cast<std::uint64_t>(c - '0');
    any = true;
    if (frac_digits >= 0) ++frac_digits;
  }
  if (!any || frac_digits != 2) return false;
  const std::uint64_t limit = neg ? std::uint64_t{1} << 63 : (std::uint64_t{1} << 63) - 1;
  if (acc > limit) return false;
  *cents = neg ? static_cast<std::int64_t>(0 - acc) : static_cast<std::int64_t>(acc);
  return true;
}

bool ValidNumericText(std::string_view s, PgNumeric* n) {
  n->special = PgNumeric::Special::kFinite;
  if (s == "NaN") {
    n->special = PgNumeric::Special::kNaN;
    return true;
  }
  if (s == "Infinity") {
    n->special = PgNumeric::Special::kPosInfinity;
    return true;
  }
  if (s == "-Infinity") {
    n->special = PgNumeric::Special::kNegInfinity;
    n->negative = true;
    return true;
  }
  std::size_t p = 0;
  n->negative = Expect(s, &p, '-');
  std::size_t int_start = p;
  while (p < s.size() && s[p] >= '0' && s[p] <= '9')
    ++p;
  if (p == int_start) return false;
  if (Expect(s, &p, '.')) {
    std::size_t frac_start = p;
    while (p < s.size() && s[p] >= '0' && s[p] <= '9')
      ++p;
    if (p == frac_start) return false;
    n->dscale = static_cast<std::uint16_t>(std::min<std::size_t>(p - frac_start, 0xffff));
  }
  return p == s.size();
}

// ---------------------------------------------------------------- decoders

Status DecodeText(const PgType& type, std::string_view s, PgValue* v) {
  v->is_text = false;
  const ColumnState f = ColumnState::kText;
  switch (type.kind) {
    case PgTypeKind::kBool:
      if (s == "t") {
        v->boolean = true;
      } else if (s == "f") {
        v->boolean = false;
      } else {
        return Bad(type, f, "not t or f", s);
      }
      return Status::Ok();
    case PgTypeKind::kInt2: {
      std::int16_t x = 0;
      if (!ParseInt(s, &x)) return Bad(type, f, "not an int2", s);
      v->int64 = x;
      return Status::Ok();
    }
    case PgTypeKind::kInt4: {
      std::int32_t x = 0;
      if (!ParseInt(s, &x)) return Bad(type, f, "not an int4", s);
      v->int64 = x;
      return Status::Ok();
    }
    case PgTypeKind::kInt8:
      if (!ParseInt(s, &v->int64)) return Bad(type, f, "not an int8", s);
      return Status::Ok();
    case PgTypeKind::kOid: {
      std::uint32_t x = 0;
      if (!ParseInt(s, &x)) return Bad(type, f, "not an oid", s);
      v->int64 = x;
      return Status::Ok();
    }
    case PgTypeKind::kFloat4:
    case PgTypeKind::kFloat8:
      if (!ParseFloatText(s, type.kind == PgTypeKind::kFloat4, &v->float64)) {
        return Bad(type, f, "not a float", s);
      }
      return Status::Ok();
    case PgTypeKind::kNumeric:
      v->is_text = true;
      v->numeric = PgNumeric{};
      if (!ValidNumericText(s, &v->numeric)) return Bad(type, f, "not a numeric", s);
      return Status::Ok();
    case PgTypeKind::kUuid:
      if (!ParseUuidText(s, &v->uuid)) return Bad(type, f, "not a uuid", s);
      return Status::Ok();
    case PgTypeKind::kDate:
      if (!ParseDateText(s, &v->date)) return Bad(type, f, "not an ISO date", s);
      return Status::Ok();
    case PgTypeKind::kTime: {
      std::size_t p = 0;
      if (!ParseTimeOfDay(s, &p, &v->int64) || p != s.size()) return Bad(type, f, "not a time", s);
      return Status::Ok();
    }
    case PgTypeKind::kTimeTz: {
      std::size_t p = 0;
      if (!ParseTimeOfDay(s, &p, &v->timetz.micros) ||
          !ParseZone(s, &p, &v->timetz.zone_seconds_west) || p != s.size()) {
        return Bad(type, f, "not a timetz", s);
      }
      return Status::Ok();
    }
    case PgTypeKind::kTimestamp:
    case PgTypeKind::kTimestampTz:
      if (!ParseTimestampText(s, type.kind == PgTypeKind::kTimestampTz, &v->int64)) {
        return Bad(type, f, "not an ISO timestamp", s);
      }
      return Status::Ok();
    case PgTypeKind::kInterval:
      if (!ParseIntervalText(s, &v->interval)) {
        return Bad(type, f, "not an interval in IntervalStyle postgres", s);
      }
      return Status::Ok();
    case PgTypeKind::kMoney:
      if (!ParseMoneyText(s, &v->int64)) return Bad(type, f, "not money in lc_monetary C", s);
      return Status::Ok();
    case PgTypeKind::kBytea:
      if (s.size() < 2 || s[0] != '\\' || s[1] != 'x' || s.size() % 2 != 0) {
        return Bad(type, f, "not bytea_output hex", s);
      }
      v->is_text = true;
      return Status::Ok();
    case PgTypeKind::kJson:
    case PgTypeKind::kJsonb:
      v->is_text = true;
      v->bytes = s;
      return Status::Ok();
    case PgTypeKind::kArray: {
      v->array = PgArray{};
      v->array.format = ColumnState::kText;
      v->array.element_type = PgType{type.element_oid, type.element, 0, PgTypeKind::kUnknown};
      v->array.body = s;
      std::size_t p = 0;
      if (!s.empty() && s[0] == '[') {  // "[0:2]={...}": non-default lower bounds
        p = s.find('=');
        if (p == std::string_view::npos) return Bad(type, f, "array dimensions without '='", s);
        ++p;
      }
      if (p >= s.size() || s[p] != '{' || s.back() != '}') {
        return Bad(type, f, "array not in braces", s);
      }
      if (s.substr(p) != "{}") {
        while (p < s.size() && s[p] == '{') {
          ++v->array.ndim;
          ++p;
        }
      }
      return Status::Ok();
    }
    case PgTypeKind::kText:
    case PgTypeKind::kEnum:
    case PgTypeKind::kInet:
    case PgTypeKind::kCidr:
    case PgTypeKind::kMacaddr:
    case PgTypeKind::kUnknown:
      v->is_text = true;
      return Status::Ok();
  }
  v->is_text = true;
  return Status::Ok();
}

Status DecodeBinary(const PgType& type, std::string_view b, PgValue* v) {
  const ColumnState f = ColumnState::kBinary;
  ByteReader r(b);
  auto want = [&](std::size_t n) -> Status {
    if (b.size() == n) return Status::Ok();
    return Bad(type, f, "want " + std::to_string(n) + " bytes", b);
  };
  v->is_text = false;
  switch (type.kind) {
    case PgTypeKind::kBool: {
      PG2BQ_RETURN_IF_ERROR(want(1));
      std::uint8_t x = 0;
      r.ReadU8(&x);
      if (x > 1) return Bad(type, f, "bool byte not 0 or 1", b);
      v->boolean = x != 0;
      return Status::Ok();
    }
    case PgTypeKind::kInt2: {
      PG2BQ_RETURN_IF_ERROR(want(2));
      std::int16_t x = 0;
      r.ReadI16(&x);
      v->int64 = x;
      return Status::Ok();
    }
    case PgTypeKind::kInt4: {
      PG2BQ_RETURN_IF_ERROR(want(4));
      std::int32_t x = 0;
      r.ReadI32(&x);
      v->int64 = x;
      return Status::Ok();
    }
    case PgTypeKind::kOid: {
      PG2BQ_RETURN_IF_ERROR(want(4));
      std::uint32_t x = 0;
      r.ReadU32(&x);
      v->int64 = x;
      return Status::Ok();
    }
    case PgTypeKind::kInt8:
    case PgTypeKind::kMoney:
    case PgTypeKind::kTime:
    case PgTypeKind::kTimestamp:
    case PgTypeKind::kTimestampTz:
      PG2BQ_RETURN_IF_ERROR(want(8));
      r.ReadI64(&v->int64);
      if (type.kind == PgTypeKind::kTime && (v->int64 < 0 || v->int64 > kMicrosPerDay)) {
        return Bad(type, f, "time of day out of range", b);
      }
      return Status::Ok();
    case PgTypeKind::kFloat4: {
      PG2BQ_RETURN_IF_ERROR(want(4));
      std::uint32_t bits = 0;
      r.ReadU32(&bits);
      float x = 0;
      std::memcpy(&x, &bits, 4);
      v->float64 = x;
      return Status::Ok();
    }
    case PgTypeKind::kFloat8: {
      PG2BQ_RETURN_IF_ERROR(want(8));
      std::uint64_t bits = 0;
      r.ReadU64(&bits);
      std::memcpy(&v->float64, &bits, 8);
      return Status::Ok();
    }
    case PgTypeKind::kNumeric: {
      std::int16_t ndigits = 0, weight = 0;
      std::uint16_t sign = 0, dscale = 0;
      if (!r.ReadI16(&ndigits) || !r.ReadI16(&weight) || !r.ReadU16(&sign) || !r.ReadU16(&dscale)) {
        return Bad(type, f, "truncated numeric header", b);
      }
      if (ndigits < 0 || b.size() != 8 + 2 * static_cast<std::size_t>(ndigits)) {
        return Bad(type, f, "numeric digit count does not match length", b);
      }
      PgNumeric& n = v->numeric;
      n = PgNumeric{};
      n.weight = weight;
      n.dscale = dscale;
      switch (sign) {
        case 0x0000:
          break;
        case 0x4000:
          n.negative = true;
          break;
        case 0xC000:
          n.special = PgNumeric::Special::kNaN;
          break;
        case 0xD000:
          n.special = PgNumeric::Special::kPosInfinity;
          break;
        case 0xF000:
          n.special = PgNumeric::Special::kNegInfinity;
          n.negative = true;
          break;
        default:
          return Bad(type, f, "bad numeric sign word", b);
      }
      if (dscale > 0x3FFF) return Bad(type, f, "numeric display scale out of range", b);
      r.ReadBytes(2 * static_cast<std::size_t>(ndigits), &n.digits);
      for (std::size_t i = 0; i < n.digits.size(); i += 2) {
        unsigned d = (static_cast<unsigned char>(n.digits[i]) << 8) |
                     static_cast<unsigned char>(n.digits[i + 1]);
        if (d > 9999) return Bad(type, f, "numeric digit above 9999", b);
      }
      return Status::Ok();
    }
    case PgTypeKind::kUuid:
      PG2BQ_RETURN_IF_ERROR(want(16));
      std::memcpy(v->uuid.data(), b.data(), 16);
      return Status::Ok();
    case PgTypeKind::kMacaddr:
      PG2BQ_RETURN_IF_ERROR(want(6));
      std::memcpy(v->macaddr.data(), b.data(), 6);
      return Status::Ok();
    case PgTypeKind::kDate:
      PG2BQ_RETURN_IF_ERROR(want(4));
      r.ReadI32(&v->date);
      return Status::Ok();
    case PgTypeKind::kTimeTz:
      PG2BQ_RETURN_IF_ERROR(want(12));
      r.ReadI64(&v->timetz.micros);
      r.ReadI32(&v->timetz.zone_seconds_west);
      if (v->timetz.micros < 0 || v->timetz.micros > kMicrosPerDay ||
          v->timetz.zone_seconds_west < -15 * 3600 - 59 * 60 - 59 ||
          v->timetz.zone_seconds_west > 15 * 3600 + 59 * 60 + 59) {
        return Bad(type, f, "timetz out of range", b);
      }
      return Status::Ok();
    case PgTypeKind::kInterval:
      PG2BQ_RETURN_IF_ERROR(want(16));
      r.ReadI64(&v->interval.micros);
      r.ReadI32(&v->interval.days);
      r.ReadI32(&v->interval.months);
      return Status::Ok();
    case PgTypeKind::kInet:
    case PgTypeKind::kCidr: {
      std::uint8_t family = 0, bits = 0, is_cidr = 0, nb = 0;
      if (!r.ReadU8(&family) || !r.ReadU8(&bits) || !r.ReadU8(&is_cidr) || !r.ReadU8(&nb)) {
        return Bad(type, f, "truncated inet header", b);
      }
      // PGSQL_AF_INET = AF_INET + 0 = 2, PGSQL_AF_INET6 = AF_INET + 1 = 3.
      const std::uint8_t want_nb = family == 2 ? 4 : family == 3 ? 16 : 0;
      if (want_nb == 0) return Bad(type, f, "unknown address family", b);
      if (nb != want_nb || r.remaining() != nb || bits > nb * 8 || is_cidr > 1) {
        return Bad(type, f, "inconsistent inet header", b);
      }
      v->inet.family = family == 2 ? 4 : 6;
      v->inet.bits = bits;
      v->inet.is_cidr = is_cidr != 0;
      v->inet.address = {};
      std::memcpy(v->inet.address.data(), b.data() + 4, nb);
      return Status::Ok();
    }
    case PgTypeKind::kBytea:
      v->bytes = b;
      return Status::Ok();
    case PgTypeKind::kJsonb:
      if (b.empty() || b[0] != 1) return Bad(type, f, "jsonb version byte is not 1", b);
      v->bytes = b.substr(1);
      v->text = v->bytes;
      v->is_text = true;
      return Status::Ok();
    case PgTypeKind::kJson:
      v->bytes = b;
      v->text = b;
      v->is_text = true;
      return Status::Ok();
    case PgTypeKind::kText:
    case PgTypeKind::kEnum:
      v->text = b;
      v->is_text = true;
      return Status::Ok();
    case PgTypeKind::kArray: {
      PgArray& a = v->array;
      a = PgArray{};
      a.format = ColumnState::kBinary;
      a.element_type = PgType{type.element_oid, type.element, 0, PgTypeKind::kUnknown};
      std::int32_t ndim = 0, flags = 0;
      std::uint32_t elem = 0;
      if (!r.ReadI32(&ndim) || !r.ReadI32(&flags) || !r.ReadU32(&elem)) {
        return Bad(type, f, "truncated array header", b);
      }
      if (ndim < 0 || ndim > 6) return Bad(type, f, "array dimension count out of range", b);
      if (flags != 0 && flags != 1) return Bad(type, f, "bad array flags", b);
      if (elem != type.element_oid) {
        return Bad(type, f,
                   "array element type OID " + std::to_string(elem) + " is not the expected " +
                       std::to_string(type.element_oid),
                   b);
      }
      a.ndim = ndim;
      a.has_nulls = flags == 1;
      std::int64_t total = ndim > 0 ? 1 : 0;
      for (int i = 0; i < ndim; ++i) {
        if (!r.ReadI32(&a.dims[i]) || !r.ReadI32(&a.lbounds[i])) {
          return Bad(type, f, "truncated array dimensions", b);
        }
        if (a.dims[i] < 0) return Bad(type, f, "negative array dimension", b);
        total *= a.dims[i];
        // Every element takes at least its 4-byte length word.
        if (total > static_cast<std::int64_t>(b.size())) {
          return Bad(type, f, "array dimensions larger than the value", b);
        }
      }
      r.ReadBytes(r.remaining(), &a.body);
      return Status::Ok();
    }
    case PgTypeKind::kUnknown:
      break;
  }
  std::string what = "binary value of a type the decoder does not know";
  if (type.kind == PgTypeKind::kUnknown) {
    what += "; register the type (PgTypeRegistry::Register) or stream in text mode";
  }
  return Bad(type, f, what, b);
}

}  // namespace

Status DecodePgValueInto(const PgType& type, const ColumnValue& column, PgValue* out) {
  out->kind = type.kind;
  out->format = column.state;
  out->is_null = false;
  out->bytes = {};
  switch (column.state) {
    case ColumnState::kText:
      out->text = column.data;
      return DecodeText(type, column.data, out);
    case ColumnState::kBinary:
      out->text = {};
      return DecodeBinary(type, column.data, out);
    case ColumnState::kNull:
    case ColumnState::kUnchangedToast:
      break;
  }
  return Status::InvalidArgument("DecodePgValue called on a NULL or unchanged-TOAST column");
}

Result<PgValue> DecodePgValue(const PgType& type, const ColumnValue& column) {
  PgValue v;
  PG2BQ_RETURN_IF_ERROR(DecodePgValueInto(type, column, &v));
  return v;
}

Status AppendPgByteaBytes(const PgValue& value, std::string* out) {
  if (value.kind != PgTypeKind::kBytea) {
    return Status::InvalidArgument("AppendPgByteaBytes on a non-bytea value");
  }
  if (value.format == ColumnState::kBinary) {
    out->append(value.bytes);
    return Status::Ok();
  }
  std::string_view s = value.text;
  if (s.size() < 2 || s[0] != '\\' || s[1] != 'x' || s.size() % 2 != 0) {
    return Status::Corruption("bytea text is not in hex format");
  }
  out->reserve(out->size() + (s.size() - 2) / 2);
  for (std::size_t i = 2; i < s.size(); i += 2) {
    int hi = HexValue(s[i]), lo = HexValue(s[i + 1]);
    if (hi < 0 || lo < 0) return Status::Corruption("bytea text has a non-hex digit");
    out->push_back(static_cast<char>(hi * 16 + lo));
  }
  return Status::Ok();
}

// Howard Hinnant's civil-from-days, shifted to PostgreSQL's 2000-01-01 epoch.
void PgDateToCivil(std::int32_t days, int* year, int* month, int* day) {
  std::int64_t z = std::int64_t{days} + kPgEpochDaysFromUnix + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const std::int64_t doe = z - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  std::int64_t y = yoe + era * 400;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  const std::int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const std::int64_t m = mp < 10 ? mp + 3 : mp - 9;
  *year = static_cast<int>(y + (m <= 2));
  *month = static_cast<int>(m);
  *day = static_cast<int>(d);
}

std::int32_t PgCivilToDate(int year, int month, int day) {
  std::int64_t y = std::int64_t{year} - (month <= 2);
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const std::int64_t yoe = y - era * 400;
  const std::int64_t doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return static_cast<std::int32_t>(era * 146097 + doe - 719468 - kPgEpochDaysFromUnix);
}

// ---------------------------------------------------------------- arrays

PgArrayReader::PgArrayReader(const PgArray& array) : array_(array) {
  if (array.format == ColumnState::kBinary) {
    std::int64_t total = array.ndim > 0 ? 1 : 0;
    for (int i = 0; i < array.ndim; ++i)
      total *= array.dims[static_cast<std::size_t>(i)];
    remaining_ = total;
    size_hint_ = total;
  } else {
    std::string_view s = array.body;
    if (!s.empty() && s[0] == '[') {
      std::size_t eq = s.find('=');
      pos_ = eq == std::string_view::npos ? s.size() : eq + 1;
    }
    size_hint_ = -1;
  }
}

Result<bool> PgArrayReader::Next(PgValue* element) {
  const PgType& et = array_.element_type;
  std::string_view s = array_.body;
  if (array_.format == ColumnState::kBinary) {
    if (remaining_ == 0) {
      if (pos_ != s.size()) return Status::Corruption("array has trailing bytes after elements");
      return false;
    }
    ByteReader r(s.substr(pos_));
    std::int32_t len = 0;
    if (!r.ReadI32(&len)) return Status::Corruption("array element length truncated");
    pos_ += 4;
    --remaining_;
    if (len == -1) {
      *element = PgValue{};
      element->kind = et.kind;
      element->format = ColumnState::kBinary;
      element->is_null = true;
      return true;
    }
    if (len < 0 || static_cast<std::size_t>(len) > s.size() - pos_) {
      return Status::Corruption("array element length " + std::to_string(len) +
                                " exceeds the value");
    }
    ColumnValue cv{ColumnState::kBinary, s.substr(pos_, static_cast<std::size_t>(len))};
    pos_ += static_cast<std::size_t>(len);
    PG2BQ_RETURN_IF_ERROR(DecodePgValueInto(et, cv, element));
    return true;
  }
  // Text: walk the braces; elements are separated by ',' at any depth.
  if (done_) return false;
  while (pos_ < s.size()) {
    char c = s[pos_];
    if (c == '{') {
      ++depth_;
      ++pos_;
      continue;
    }
    if (c == '}') {
      --depth_;
      ++pos_;
      if (depth_ == 0) {
        done_ = true;
        if (pos_ != s.size()) return Status::Corruption("array text has bytes after '}'");
        return false;
      }
      continue;
    }
    if (c == ',') {
      ++pos_;
      continue;
    }
    if (depth_ == 0) return Status::Corruption("array text element outside braces");
    std::string_view item;
    bool quoted = false;
    if (c == '"') {
      quoted = true;
      scratch_.clear();
      ++pos_;
      bool closed = false;
      while (pos_ < s.size()) {
        char d = s[pos_++];
        if (d == '\\') {
          if (pos_ >= s.size()) break;
          scratch_.push_back(s[pos_++]);
        } else if (d == '"') {
          closed = true;
          break;
        } else {
          scratch_.push_back(d);
        }
      }
      if (!closed) return Status::Corruption("array text has an unterminated quoted element");
      item = scratch_;
    } else {
      std::size_t end = pos_;
      while (end < s.size() && s[end] != ',' && s[end] != '}' && s[end] != '{')
        ++end;
      item = s.substr(pos_, end - pos_);
      pos_ = end;
    }
    if (!quoted && item == "NULL") {
      *element = PgValue{};
      element->kind = et.kind;
      element->is_null = true;
      element->format = ColumnState::kText;
      return true;
    }
    PG2BQ_RETURN_IF_ERROR(DecodePgValueInto(et, ColumnValue{ColumnState::kText, item}, element));
    return true;
  }
  return Status::Corruption("array text ends before its closing '}'");
}

}  // namespace pg2bq
