#include "sink/pg_text.h"

#include <gtest/gtest.h>

#include <cmath>

#include "sink/pg_array_text.h"

namespace pg2bq::sink::pgtext {
namespace {

TEST(PgTextTest, Scalars) {
  EXPECT_EQ(ParseBool("t"), true);
  EXPECT_EQ(ParseBool("f"), false);
  EXPECT_FALSE(ParseBool("x"));
  EXPECT_EQ(ParseInt64("-9223372036854775808"), INT64_MIN);
  EXPECT_FALSE(ParseInt64("9223372036854775808"));
  EXPECT_FALSE(ParseInt64("12a"));
  EXPECT_TRUE(std::isnan(*ParseFloat("NaN")));
  EXPECT_EQ(*ParseFloat("-Infinity"), -INFINITY);
  EXPECT_EQ(*ParseFloat("1.5e+300"), 1.5e300);
}

TEST(PgTextTest, Dates) {
  EXPECT_EQ(DaysFromCivil(1970, 1, 1), 0);
  EXPECT_EQ(DaysFromCivil(1, 1, 1), -719162);
  EXPECT_EQ(DaysFromCivil(9999, 12, 31), 2932896);
  auto d = ParseDate("0044-03-15 BC");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->year, -43);
  EXPECT_EQ(ParseDate("infinity")->infinity, Infinity::kPositive);
  EXPECT_EQ(ParseDate("-infinity")->infinity, Infinity::kNegative);
  EXPECT_EQ(ParseDate("10000-01-01")->year, 10000);
  EXPECT_FALSE(ParseDate("2023-02-29"));
  EXPECT_TRUE(ParseDate("2024-02-29"));
  EXPECT_FALSE(ParseDate("2024-13-01"));
}

TEST(PgTextTest, Timestamps) {
  auto ts = ParseTimestamp("2024-01-31 12:34:56.789+05:30", true);
  ASSERT_TRUE(ts);
  EXPECT_EQ(ts->offset_seconds, 5 * 3600 + 30 * 60);
  EXPECT_EQ(ts->time.micros, 789000);
  ts = ParseTimestamp("1900-01-01 00:00:00-00:17:30", true);  // LMT offsets have seconds
  ASSERT_TRUE(ts);
  EXPECT_EQ(ts->offset_seconds, -(17 * 60 + 30));
  ts = ParseTimestamp("0001-01-01 00:00:00+00 BC", true);
  ASSERT_TRUE(ts);
  EXPECT_EQ(ts->date.year, 0);
  EXPECT_FALSE(ParseTimestamp("2024-01-31 12:34:56", true));  // zone missing
  EXPECT_FALSE(ParseTimestamp("2024-01-31 12:34:56.1234567", false));
  EXPECT_EQ(ParseTime("24:00:00")->hour, 24);
  EXPECT_FALSE(ParseTime("24:00:01"));
}

TEST(PgTextTest, Intervals) {
  auto iv = ParseInterval("1 year 2 mons -3 days +04:05:06.5");
  ASSERT_TRUE(iv);
  EXPECT_EQ(iv->months, 14);
  EXPECT_EQ(iv->days, -3);
  EXPECT_EQ(iv->micros, ((4 * 60 + 5) * 60 + 6) * 1000000LL + 500000);
  iv = ParseInterval("-00:00:01");
  ASSERT_TRUE(iv);
  EXPECT_EQ(iv->micros, -1000000);
  iv = ParseInterval("-1 years -2 mons");
  ASSERT_TRUE(iv);
  EXPECT_EQ(iv->months, -14);
  EXPECT_FALSE(ParseInterval("P1Y"));
  EXPECT_FALSE(ParseInterval(""));
}

TEST(PgTextTest, Decimals) {
  auto d = ParseDecimal("-00123.4500");
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->negative);
  EXPECT_EQ(d->integer, "123");
  EXPECT_EQ(d->fraction, "45");
  std::string out;
  AppendDecimal(*d, &out);
  EXPECT_EQ(out, "-123.45");
  out.clear();
  AppendDecimal(*ParseDecimal("-0.000"), &out);
  EXPECT_EQ(out, "0");
  EXPECT_EQ(ParseDecimal("NaN")->special, Decimal::Special::kNaN);
  EXPECT_FALSE(ParseDecimal("1e5"));
  std::string money;
  ASSERT_TRUE(ParseMoney("-$1,234.56", &money));
  EXPECT_EQ(money, "-1234.56");
  ASSERT_TRUE(ParseMoney("($0.01)", &money));
  EXPECT_EQ(money, "-0.01");
  EXPECT_FALSE(ParseMoney("€1,00", &money));
}

TEST(PgTextTest, ByteaAndHstore) {
  std::string out;
  ASSERT_TRUE(ParseBytea("\\x00ff41", &out));
  EXPECT_EQ(out, std::string("\0\xff"
                             "A",
                             3));
  out.clear();
  ASSERT_TRUE(ParseBytea("a\\\\b\\001", &out));
  EXPECT_EQ(out, std::string("a\\b\x01", 4));
  out.clear();
  EXPECT_FALSE(ParseBytea("\\x0", &out));
  out.clear();
  ASSERT_TRUE(HstoreToJson(R"("a"=>"1", "b \"q\""=>NULL)", &out));
  EXPECT_EQ(out, R"({"a":"1","b \"q\"":null})");
  out.clear();
  ASSERT_TRUE(HstoreToJson("", &out));
  EXPECT_EQ(out, "{}");
}

TEST(PgTextTest, Utf8) {
  EXPECT_TRUE(IsValidUtf8("héllo €𝄞"));
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_FALSE(IsValidUtf8("\xc3"));
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));  // surrogate
  EXPECT_FALSE(IsValidUtf8("\xc0\x80"));      // overlong
}

TEST(PgArrayTextTest, ParsesElementsNullsAndNesting) {
  ParsedArray a;
  ASSERT_TRUE(ParseArrayText(R"({1,NULL,"NULL","a \"b\"",c\,d})", &a));
  EXPECT_EQ(a.ndim, 1);
  EXPECT_TRUE(a.has_nulls);
  ASSERT_EQ(a.element_count, 5u);
  std::vector<std::string> texts;
  for (const auto& t : a.tokens)
    if (t.kind == ArrayToken::Kind::kElement)
      texts.push_back(t.is_null ? "<null>" : std::string(a.Text(t)));
  EXPECT_EQ(texts, (std::vector<std::string>{"1", "<null>", "NULL", "a \"b\"", "c,d"}));
  ASSERT_TRUE(ParseArrayText("{{1,2},{3,4}}", &a));
  EXPECT_EQ(a.ndim, 2);
  ASSERT_TRUE(ParseArrayText("[0:1]={5,6}", &a));
  EXPECT_EQ(a.element_count, 2u);
  ASSERT_TRUE(ParseArrayText("{}", &a));
  EXPECT_EQ(a.element_count, 0u);
  EXPECT_FALSE(ParseArrayText("{1,}", &a));
  EXPECT_FALSE(ParseArrayText("{1", &a));
  EXPECT_FALSE(ParseArrayText("{\"a}", &a));
  EXPECT_FALSE(ParseArrayText("{1}x", &a));
}

}  // namespace
}  // namespace pg2bq::sink::pgtext
