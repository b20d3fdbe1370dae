#include "sink/pg_text.h"

#include <gtest/gtest.h>

#include <cmath>

#include "sink/pg_array_text.h"

namespace pg2bq::sink::pgtext {
namespace {

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
}

TEST(PgTextTest, Hstore) {
  std::string out;
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
