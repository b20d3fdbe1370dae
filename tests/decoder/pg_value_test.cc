#include "decoder/pg_value.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "decoder/pg_text_format.h"
#include "tests/decoder/message_builder.h"

namespace pg2bq::testing {
namespace {

PgType T(PgTypeKind k, Oid oid = 0) {
  return PgType{oid, k, 0, PgTypeKind::kUnknown};
}
PgType Arr(PgTypeKind elem, Oid elem_oid) {
  return PgType{1, PgTypeKind::kArray, elem_oid, elem};
}

std::string Bytes(MessageBuilder b) {
  return b.str().substr(1);
}  // drop the type byte

std::string Fmt(const PgType& t, ColumnState st, std::string_view data) {
  PgValue v;
  Status s = DecodePgValueInto(t, ColumnValue{st, data}, &v);
  if (!s.ok()) return "ERR: " + s.message();
  std::string out;
  s = AppendPgText(v, &out);
  if (!s.ok()) return "ERR: " + s.message();
  return out;
}
std::string FmtBin(const PgType& t, std::string_view data) {
  return Fmt(t, ColumnState::kBinary, data);
}

TEST(PgFloatFormatTest, ShortestExactLikePostgres) {
  auto f8 = [](double v) {
    std::string s;
    AppendPgFloat8(v, &s);
    return s;
  };
  auto f4 = [](float v) {
    std::string s;
    AppendPgFloat4(v, &s);
    return s;
  };
  EXPECT_EQ(f8(0.1), "0.1");
  EXPECT_EQ(f8(-0.0), "-0");
  EXPECT_EQ(f8(0.0), "0");
  EXPECT_EQ(f8(1e15), "1e+15");
  EXPECT_EQ(f8(123456789012345.0), "123456789012345");
  EXPECT_EQ(f8(1e-4), "0.0001");
  EXPECT_EQ(f8(1e-5), "1e-05");
  EXPECT_EQ(f8(1.5e-7), "1.5e-07");
  EXPECT_EQ(f8(5e-324), "5e-324");
  EXPECT_EQ(f8(1.7976931348623157e308), "1.7976931348623157e+308");
  EXPECT_EQ(f8(2.5), "2.5");
  EXPECT_EQ(f8(-1234.5678), "-1234.5678");
  EXPECT_EQ(f8(100.0), "100");
  EXPECT_EQ(f8(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(f8(-std::numeric_limits<double>::infinity()), "-Infinity");
  EXPECT_EQ(f4(1234567.0f), "1.234567e+06");
  EXPECT_EQ(f4(123456.0f), "123456");
  EXPECT_EQ(f4(3.4028235e38f), "3.4028235e+38");
  EXPECT_EQ(f4(0.1f), "0.1");
  EXPECT_EQ(f4(-0.0f), "-0");
}

std::string NumericBin(std::int16_t weight, std::uint16_t sign, std::uint16_t dscale,
                       std::initializer_list<std::uint16_t> digits) {
  MessageBuilder b('x');
  b.U16(static_cast<std::uint16_t>(digits.size()))
      .U16(static_cast<std::uint16_t>(weight))
      .U16(sign)
      .U16(dscale);
  for (auto d : digits)
    b.U16(d);
  return Bytes(b);
}

TEST(PgNumericTest, BinaryToText) {
  const PgType n = T(PgTypeKind::kNumeric);
  EXPECT_EQ(FmtBin(n, NumericBin(0, 0, 3, {12, 3450})), "12.345");
  EXPECT_EQ(FmtBin(n, NumericBin(0, 0x4000, 0, {1})), "-1");
  EXPECT_EQ(FmtBin(n, NumericBin(0, 0, 0, {})), "0");
  EXPECT_EQ(FmtBin(n, NumericBin(0, 0, 2, {})), "0.00");
  EXPECT_EQ(FmtBin(n, NumericBin(-2, 0, 6, {1200})), "0.000012");
  EXPECT_EQ(FmtBin(n, NumericBin(2, 0, 0, {1})), "100000000");
  EXPECT_EQ(FmtBin(n, NumericBin(1, 0, 4, {1, 2, 3})), "10002.0003");
  EXPECT_EQ(FmtBin(n, NumericBin(0, 0, 1, {9999, 9000})), "9999.9");
  EXPECT_EQ(FmtBin(n, NumericBin(0, 0xC000, 0, {})), "NaN");
  EXPECT_EQ(FmtBin(n, NumericBin(0, 0xD000, 0, {})), "Infinity");
  EXPECT_EQ(FmtBin(n, NumericBin(0, 0xF000, 0, {})), "-Infinity");
  // Huge scale: 1e-16383 has dscale 16383.
  std::string tiny = FmtBin(n, NumericBin(-4096, 0, 16383, {10}));
  ASSERT_EQ(tiny.size(), 2u + 16383u);
  EXPECT_EQ(tiny.substr(0, 4), "0.00");
  EXPECT_EQ(tiny.back(), '1');
  EXPECT_EQ(FmtBin(n, NumericBin(0, 0, 0, {10000})).substr(0, 4), "ERR:");
  EXPECT_EQ(FmtBin(n, NumericBin(0, 0x1234, 0, {1})).substr(0, 4), "ERR:");
  EXPECT_EQ(FmtBin(n, NumericBin(0, 0, 0, {1}).substr(0, 9)).substr(0, 4), "ERR:");
}

TEST(PgNumericTest, TextKeepsDigits) {
  PgValue v;
  ASSERT_TRUE(
      DecodePgValueInto(T(PgTypeKind::kNumeric), {ColumnState::kText, "-12.3400"}, &v).ok());
  EXPECT_TRUE(v.is_text);
  EXPECT_TRUE(v.numeric.negative);
  EXPECT_EQ(v.numeric.dscale, 4);
  ASSERT_TRUE(DecodePgValueInto(T(PgTypeKind::kNumeric), {ColumnState::kText, "NaN"}, &v).ok());
  EXPECT_EQ(v.numeric.special, PgNumeric::Special::kNaN);
  for (const char* bad : {"", "-", "1.", ".5", "1e5", "abc", "1.2.3"}) {
    EXPECT_FALSE(DecodePgValueInto(T(PgTypeKind::kNumeric), {ColumnState::kText, bad}, &v).ok())
        << bad;
  }
}

TEST(PgDateTimeTest, DatesAndTimestamps) {
  auto date = [](std::int32_t d) {
    std::string s;
    AppendPgDate(d, &s);
    return s;
  };
  auto ts = [](std::int64_t us, bool tz) {
    std::string s;
    AppendPgTimestamp(us, tz, &s);
    return s;
  };
  EXPECT_EQ(date(0), "2000-01-01");
  EXPECT_EQ(date(-1), "1999-12-31");
  EXPECT_EQ(date(PgCivilToDate(2024, 2, 29)), "2024-02-29");
  EXPECT_EQ(date(PgCivilToDate(0, 1, 1)), "0001-01-01 BC");
  EXPECT_EQ(date(PgCivilToDate(-43, 3, 15)), "0044-03-15 BC");
  EXPECT_EQ(date(PgCivilToDate(294276, 12, 31)), "294276-12-31");
  EXPECT_EQ(date(kPgDatePosInfinity), "infinity");
  EXPECT_EQ(date(kPgDateNegInfinity), "-infinity");
  EXPECT_EQ(ts(0, true), "2000-01-01 00:00:00+00");
  EXPECT_EQ(ts(-1, false), "1999-12-31 23:59:59.999999");
  EXPECT_EQ(ts(1500000, false), "2000-01-01 00:00:01.5");
  EXPECT_EQ(ts(-kPgEpochMicrosFromUnix, true), "1970-01-01 00:00:00+00");
  EXPECT_EQ(ts(kPgTimestampPosInfinity, true), "infinity");
  EXPECT_EQ(ts(kPgTimestampNegInfinity, false), "-infinity");
  std::int64_t bc = std::int64_t{PgCivilToDate(-4712, 11, 24)} * 86400000000LL;
  EXPECT_EQ(ts(bc, true), "4713-11-24 00:00:00+00 BC");
  for (int d : {-2451545, -1000000, -1, 0, 1, 59, 60, 366, 1000000, 106000000}) {
    int y, m, dd;
    PgDateToCivil(d, &y, &m, &dd);
    EXPECT_EQ(PgCivilToDate(y, m, dd), d);
  }
}

TEST(PgDateTimeTest, TextRoundTrip) {
  PgValue v;
  ASSERT_TRUE(DecodePgValueInto(T(PgTypeKind::kTimestampTz),
                                {ColumnState::kText, "2024-02-29 13:14:15.000001+05:30"}, &v)
                  .ok());
  std::string s;
  AppendPgTimestamp(v.int64, true, &s);
  EXPECT_EQ(s, "2024-02-29 07:44:15.000001+00");
  ASSERT_TRUE(DecodePgValueInto(T(PgTypeKind::kTimestamp),
                                {ColumnState::kText, "0001-01-01 00:00:00 BC"}, &v)
                  .ok());
  s.clear();
  AppendPgTimestamp(v.int64, false, &s);
  EXPECT_EQ(s, "0001-01-01 00:00:00 BC");
  ASSERT_TRUE(DecodePgValueInto(T(PgTypeKind::kTime), {ColumnState::kText, "24:00:00"}, &v).ok());
  EXPECT_EQ(v.int64, 86400000000LL);
  ASSERT_TRUE(
      DecodePgValueInto(T(PgTypeKind::kTimeTz), {ColumnState::kText, "00:00:00-12:34:56"}, &v)
          .ok());
  EXPECT_EQ(v.timetz.zone_seconds_west, 12 * 3600 + 34 * 60 + 56);
  s.clear();
  AppendPgTimeTz(v.timetz, &s);
  EXPECT_EQ(s, "00:00:00-12:34:56");
  // Out of PostgreSQL's range (found by pgoutput_value_fuzz: used to overflow int64).
  EXPECT_FALSE(DecodePgValueInto(T(PgTypeKind::kTimestampTz),
                                 {ColumnState::kText, "294277-01-01 00:00:00+00"}, &v)
                   .ok());
  EXPECT_FALSE(DecodePgValueInto(T(PgTypeKind::kTimestamp),
                                 {ColumnState::kText, "9999999-01-01 00:00:00"}, &v)
                   .ok());
  EXPECT_FALSE(
      DecodePgValueInto(T(PgTypeKind::kDate), {ColumnState::kText, "9999999-01-01"}, &v).ok());
  ASSERT_TRUE(DecodePgValueInto(T(PgTypeKind::kTimestamp),
                                {ColumnState::kText, "294276-12-31 23:59:59.999999"}, &v)
                  .ok());
  for (const char* bad : {"2024-13-01", "2024-02-29", "12:00", "x"}) {
    EXPECT_FALSE(DecodePgValueInto(T(PgTypeKind::kTimestamp), {ColumnState::kText, bad}, &v).ok())
        << bad;
  }
}

TEST(PgIntervalTest, PostgresStyle) {
  auto iv = [](std::int32_t months, std::int32_t days, std::int64_t micros) {
    std::string s;
    AppendPgInterval({micros, days, months}, &s);
    return s;
  };
  EXPECT_EQ(iv(0, 0, 0), "00:00:00");
  EXPECT_EQ(iv(14, 3, 14706700000), "1 year 2 mons 3 days 04:05:06.7");
  EXPECT_EQ(iv(-14, 3, -14706000000), "-1 years -2 mons +3 days -04:05:06");
  EXPECT_EQ(iv(0, 1, -1000000), "1 day -00:00:01");
  EXPECT_EQ(iv(0, -1, 1000000), "-1 days +00:00:01");
  EXPECT_EQ(iv(0, 0, -1), "-00:00:00.000001");
  EXPECT_EQ(iv(1, 0, 0), "1 mon");
  EXPECT_EQ(iv(0, 0, 360000000000), "100:00:00");
  EXPECT_EQ(iv(INT32_MIN, INT32_MIN, INT64_MIN),
            "-178956970 years -8 mons -2147483648 days -2562047788:00:54.775808");
  for (const char* text :
       {"1 year 2 mons 3 days 04:05:06.7", "-1 years -2 mons +3 days -04:05:06", "1 day -00:00:01",
        "-00:00:00.000001", "00:00:00", "100:00:00", "-178000000 years", "2 years 1 day"}) {
    PgValue v;
    ASSERT_TRUE(DecodePgValueInto(T(PgTypeKind::kInterval), {ColumnState::kText, text}, &v).ok())
        << text;
    std::string s;
    AppendPgInterval(v.interval, &s);
    EXPECT_EQ(s, text);
  }
}

TEST(PgIntervalTest, TextOutOfRangeIsAnError) {
  PgValue v;
  // Found by pgoutput_value_fuzz: used to overflow int64 while summing months.
  for (const char* bad : {"4000000000000000001 years", "2147483648 days", "178956971 years",
                          "1 fortnight", "1 day 00:00", "99999999999999999999:00:00"}) {
    EXPECT_FALSE(DecodePgValueInto(T(PgTypeKind::kInterval), {ColumnState::kText, bad}, &v).ok())
        << bad;
  }
}

TEST(PgNetworkTest, InetCidrMacaddr) {
  auto inet = [](std::uint8_t fam, std::uint8_t bits, bool cidr, std::string addr) {
    MessageBuilder b('x');
    b.U8(fam).U8(bits).U8(cidr).U8(static_cast<std::uint8_t>(addr.size())).Raw(addr);
    return FmtBin(T(cidr ? PgTypeKind::kCidr : PgTypeKind::kInet), Bytes(b));
  };
  EXPECT_EQ(inet(2, 32, false, std::string("\xc0\xa8\x01\x02", 4)), "192.168.1.2");
  EXPECT_EQ(inet(2, 24, false, std::string("\xc0\xa8\x01\x02", 4)), "192.168.1.2/24");
  EXPECT_EQ(inet(2, 32, true, std::string("\x0a\x00\x00\x01", 4)), "10.0.0.1/32");
  std::string v6(16, '\0');
  v6[15] = 1;
  EXPECT_EQ(inet(3, 128, false, v6), "::1");
  EXPECT_EQ(inet(3, 128, false, std::string(16, '\0')), "::");
  std::string mapped(16, '\0');
  mapped[10] = mapped[11] = '\xff';
  mapped[12] = 1, mapped[13] = 2, mapped[14] = 3, mapped[15] = 4;
  EXPECT_EQ(inet(3, 128, false, mapped), "::ffff:1.2.3.4");
  std::string db8 = std::string("\x20\x01\x0d\xb8", 4) + std::string(12, '\0');
  EXPECT_EQ(inet(3, 32, true, db8), "2001:db8::/32");
  std::string tail = db8;
  tail[8] = 0, tail[9] = 1, tail[15] = 1;
  EXPECT_EQ(inet(3, 128, false, tail), "2001:db8::1:0:0:1");
  EXPECT_EQ(inet(2, 33, false, std::string(4, '\0')).substr(0, 4), "ERR:");
  EXPECT_EQ(inet(9, 8, false, std::string(4, '\0')).substr(0, 4), "ERR:");
  EXPECT_EQ(FmtBin(T(PgTypeKind::kMacaddr), std::string("\x08\x00\x2b\x01\x02\x03", 6)),
            "08:00:2b:01:02:03");
}

TEST(PgScalarTest, BinaryScalarsAndLengthChecks) {
  EXPECT_EQ(FmtBin(T(PgTypeKind::kBool), std::string("\x01", 1)), "t");
  EXPECT_EQ(FmtBin(T(PgTypeKind::kBool), std::string("\x00", 1)), "f");
  EXPECT_EQ(FmtBin(T(PgTypeKind::kInt2), std::string("\x80\x00", 2)), "-32768");
  EXPECT_EQ(FmtBin(T(PgTypeKind::kInt4), std::string("\xff\xff\xff\xfe", 4)), "-2");
  EXPECT_EQ(FmtBin(T(PgTypeKind::kInt8), std::string("\x80\0\0\0\0\0\0\0", 8)),
            "-9223372036854775808");
  EXPECT_EQ(FmtBin(T(PgTypeKind::kOid), std::string("\xff\xff\xff\xff", 4)), "4294967295");
  EXPECT_EQ(FmtBin(T(PgTypeKind::kMoney), std::string("\x80\0\0\0\0\0\0\0", 8)),
            "-$92,233,720,368,547,758.08");
  EXPECT_EQ(FmtBin(T(PgTypeKind::kMoney), std::string("\0\0\0\0\0\0\0\x05", 8)), "$0.05");
  EXPECT_EQ(FmtBin(T(PgTypeKind::kBytea), std::string("\x00\xff", 2)), "\\x00ff");
  EXPECT_EQ(FmtBin(T(PgTypeKind::kBytea), ""), "\\x");
  EXPECT_EQ(FmtBin(T(PgTypeKind::kJsonb), std::string("\x01{}", 3)), "{}");
  EXPECT_EQ(FmtBin(T(PgTypeKind::kJsonb), std::string("\x02{}", 3)).substr(0, 4), "ERR:");
  EXPECT_EQ(FmtBin(T(PgTypeKind::kEnum), "happy"), "happy");
  std::string uuid = "\xa0\xee\xbc\x99\x9c\x0b\x4e\xf8\xbb\x6d\x6b\xb9\xbd\x38\x0a\x11";
  EXPECT_EQ(FmtBin(T(PgTypeKind::kUuid), uuid), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
  // Wrong lengths are errors that name the type.
  std::string err = FmtBin(T(PgTypeKind::kInt4, 23), "abc");
  EXPECT_EQ(err, "ERR: int4 (binary, type OID 23): want 4 bytes (3 bytes)");
  EXPECT_EQ(FmtBin(T(PgTypeKind::kBool), std::string("\x02", 1)).substr(0, 4), "ERR:");
  EXPECT_EQ(FmtBin(T(PgTypeKind::kTime), std::string("\xff\0\0\0\0\0\0\0", 8)).substr(0, 4),
            "ERR:");
  // An unknown type cannot be decoded from binary, and says how to fix it.
  err = FmtBin(T(PgTypeKind::kUnknown, 600), "xxxx");
  EXPECT_NE(err.find("Register"), std::string::npos) << err;
  EXPECT_EQ(Fmt(T(PgTypeKind::kUnknown, 600), ColumnState::kText, "(1,2)"), "(1,2)");
}

TEST(PgScalarTest, TextScalars) {
  PgValue v;
  ASSERT_TRUE(
      DecodePgValueInto(T(PgTypeKind::kInt8), {ColumnState::kText, "-9223372036854775808"}, &v)
          .ok());
  EXPECT_EQ(v.int64, INT64_MIN);
  EXPECT_FALSE(DecodePgValueInto(T(PgTypeKind::kInt2), {ColumnState::kText, "32768"}, &v).ok());
  EXPECT_FALSE(DecodePgValueInto(T(PgTypeKind::kInt4), {ColumnState::kText, "1x"}, &v).ok());
  ASSERT_TRUE(DecodePgValueInto(T(PgTypeKind::kFloat8), {ColumnState::kText, "-0"}, &v).ok());
  EXPECT_TRUE(std::signbit(v.float64));
  ASSERT_TRUE(DecodePgValueInto(T(PgTypeKind::kFloat8), {ColumnState::kText, "NaN"}, &v).ok());
  EXPECT_TRUE(std::isnan(v.float64));
  ASSERT_TRUE(
      DecodePgValueInto(T(PgTypeKind::kFloat4), {ColumnState::kText, "1.234567e+06"}, &v).ok());
  EXPECT_EQ(v.float64, 1234567.0);
  ASSERT_TRUE(
      DecodePgValueInto(T(PgTypeKind::kMoney), {ColumnState::kText, "-$1,234.56"}, &v).ok());
  EXPECT_EQ(v.int64, -123456);
  EXPECT_FALSE(DecodePgValueInto(T(PgTypeKind::kMoney), {ColumnState::kText, "$1.5"}, &v).ok());
  ASSERT_TRUE(DecodePgValueInto(T(PgTypeKind::kBytea), {ColumnState::kText, "\\x00ff"}, &v).ok());
  std::string raw;
  ASSERT_TRUE(AppendPgByteaBytes(v, &raw).ok());
  EXPECT_EQ(raw, std::string("\x00\xff", 2));
  EXPECT_FALSE(DecodePgValueInto(T(PgTypeKind::kBytea), {ColumnState::kText, "\\x0"}, &v).ok());
  ASSERT_TRUE(DecodePgValueInto(T(PgTypeKind::kBool), {ColumnState::kText, "t"}, &v).ok());
  EXPECT_TRUE(v.boolean);
  EXPECT_FALSE(DecodePgValueInto(T(PgTypeKind::kBool), {ColumnState::kText, "true"}, &v).ok());
  EXPECT_FALSE(DecodePgValueInto(T(PgTypeKind::kBool), {ColumnState::kNull, ""}, &v).ok());
}

std::string BinArray(Oid elem, std::vector<std::pair<int, int>> dims, bool hasnull,
                     std::vector<std::optional<std::string>> elems) {
  MessageBuilder b('x');
  b.U32(static_cast<std::uint32_t>(dims.size())).U32(hasnull).U32(elem);
  for (auto [d, l] : dims)
    b.U32(static_cast<std::uint32_t>(d)).U32(static_cast<std::uint32_t>(l));
  for (auto& e : elems) {
    if (!e) {
      b.U32(0xffffffff);
    } else {
      b.U32(static_cast<std::uint32_t>(e->size())).Raw(*e);
    }
  }
  return Bytes(b);
}

TEST(PgArrayTest, BinaryArrays) {
  const PgType i4 = Arr(PgTypeKind::kInt4, 23);
  const std::string one("\0\0\0\1", 4), two("\0\0\0\2", 4);
  EXPECT_EQ(FmtBin(i4, BinArray(23, {{3, 1}}, true, {one, std::nullopt, two})), "{1,NULL,2}");
  EXPECT_EQ(FmtBin(i4, BinArray(23, {}, false, {})), "{}");
  EXPECT_EQ(FmtBin(i4, BinArray(23, {{2, 0}}, false, {one, two})), "[0:1]={1,2}");
  EXPECT_EQ(FmtBin(i4, BinArray(23, {{2, 1}, {2, 1}}, false, {one, two, two, one})),
            "{{1,2},{2,1}}");
  const PgType tx = Arr(PgTypeKind::kText, 25);
  EXPECT_EQ(FmtBin(tx, BinArray(25, {{6, 1}}, false, {"a b", "", "NULL", "q\"u", "b\\s", "plain"})),
            "{\"a b\",\"\",\"NULL\",\"q\\\"u\",\"b\\\\s\",plain}");
  // Element count and bytes must agree with the header.
  EXPECT_EQ(FmtBin(i4, BinArray(23, {{3, 1}}, false, {one, two})).substr(0, 4), "ERR:");
  EXPECT_EQ(FmtBin(i4, BinArray(23, {{1, 1}}, false, {one, two})).substr(0, 4), "ERR:");
  EXPECT_EQ(FmtBin(i4, BinArray(25, {{1, 1}}, false, {one})).substr(0, 4), "ERR:");
  EXPECT_EQ(FmtBin(i4, BinArray(23, {{0x7fffffff, 1}, {0x7fffffff, 1}}, false, {})).substr(0, 4),
            "ERR:");
  EXPECT_EQ(FmtBin(i4, BinArray(23, {{1, 1}}, false, {"abc"})).substr(0, 4), "ERR:");
  std::string bad = BinArray(23, {{1, 1}}, false, {one});
  EXPECT_EQ(FmtBin(i4, bad.substr(0, bad.size() - 1)).substr(0, 4), "ERR:");
}

TEST(PgArrayTest, TextArraysIterate) {
  const PgType tx = Arr(PgTypeKind::kText, 25);
  PgValue v;
  ASSERT_TRUE(
      DecodePgValueInto(tx, {ColumnState::kText, "{\"a b\",NULL,\"NULL\",\"q\\\"u\",x}"}, &v).ok());
  PgArrayReader r(v.array);
  std::vector<std::string> got;
  PgValue e;
  for (;;) {
    auto more = r.Next(&e);
    ASSERT_TRUE(more.ok()) << more.status().ToString();
    if (!*more) break;
    got.push_back(e.is_null ? "<null>" : std::string(e.text));
  }
  EXPECT_EQ(got, (std::vector<std::string>{"a b", "<null>", "NULL", "q\"u", "x"}));
  ASSERT_TRUE(
      DecodePgValueInto(Arr(PgTypeKind::kInt4, 23), {ColumnState::kText, "[0:1]={7,8}"}, &v).ok());
  PgArrayReader r2(v.array);
  ASSERT_TRUE(*r2.Next(&e));
  EXPECT_EQ(e.int64, 7);
  ASSERT_TRUE(DecodePgValueInto(Arr(PgTypeKind::kInt4, 23), {ColumnState::kText, "{}"}, &v).ok());
  EXPECT_EQ(v.array.ndim, 0);
  PgArrayReader r3(v.array);
  EXPECT_FALSE(*r3.Next(&e));
  ASSERT_TRUE(
      DecodePgValueInto(Arr(PgTypeKind::kInt4, 23), {ColumnState::kText, "{1,\"x"}, &v).ok() ==
          false ||
      !PgArrayReader(v.array).Next(&e).ok());
  EXPECT_FALSE(DecodePgValueInto(Arr(PgTypeKind::kInt4, 23), {ColumnState::kText, "1,2"}, &v).ok());
}

}  // namespace
}  // namespace pg2bq::testing
