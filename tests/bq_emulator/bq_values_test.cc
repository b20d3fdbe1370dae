#include "tests/bq_emulator/bq_values.h"

#include <gtest/gtest.h>

namespace pg2bq::bqemu {
namespace {

TEST(BqValues, TimestampRoundTripAndRange) {
  auto us = ParseTimestamp("2024-02-29T12:34:56.123456Z");
  ASSERT_TRUE(us.ok()) << us.status().ToString();
  EXPECT_EQ(FormatTimestamp(*us), "2024-02-29T12:34:56.123456Z");
  EXPECT_EQ(FormatTimestamp(0), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(FormatTimestamp(-1), "1969-12-31T23:59:59.999999Z");
  EXPECT_EQ(FormatTimestamp(kMinTimestampMicros), "0001-01-01T00:00:00.000000Z");
  EXPECT_EQ(FormatTimestamp(kMaxTimestampMicros), "9999-12-31T23:59:59.999999Z");
  EXPECT_TRUE(CheckTimestampMicros(kMaxTimestampMicros).ok());
  EXPECT_FALSE(CheckTimestampMicros(kMaxTimestampMicros + 1).ok());
  EXPECT_FALSE(CheckTimestampMicros(kMinTimestampMicros - 1).ok());
  auto offset = ParseTimestamp("2024-01-01 02:00:00+02:00");
  ASSERT_TRUE(offset.ok());
  EXPECT_EQ(FormatTimestamp(*offset), "2024-01-01T00:00:00.000000Z");
  EXPECT_FALSE(ParseTimestamp("2023-02-29T00:00:00Z").ok());          // not a leap year
  EXPECT_FALSE(ParseTimestamp("2024-01-01T00:00:00.1234567Z").ok());  // nanoseconds
  EXPECT_FALSE(ParseTimestamp("0000-12-31T00:00:00Z").ok());
}

TEST(BqValues, DateTimeDatetime) {
  EXPECT_EQ(FormatDate(0), "1970-01-01");
  EXPECT_EQ(FormatDate(kMinDate), "0001-01-01");
  EXPECT_EQ(FormatDate(kMaxDate), "9999-12-31");
  EXPECT_EQ(*ParseDate("2000-03-01"), DaysFromCivil(2000, 3, 1));
  EXPECT_FALSE(CheckDateDays(kMaxDate + 1).ok());
  EXPECT_FALSE(ParseDate("2000-13-01").ok());
  EXPECT_EQ(FormatTimeOfDay(*ParseTimeOfDay("23:59:59.5")), "23:59:59.500000");
  EXPECT_FALSE(ParseTimeOfDay("24:00:00").ok());
  int64_t days, micros;
  ASSERT_TRUE(ParseDatetime("2020-05-06 07:08:09.000010", &days, &micros).ok());
  EXPECT_EQ(FormatDatetime(days, micros), "2020-05-06T07:08:09.000010");
}

TEST(BqValues, PackedCivilEncodings) {
  // CivilTimeEncoder: 12:34:56.000789
  int64_t time = (int64_t{12} << 32) | (int64_t{34} << 26) | (int64_t{56} << 20) | 789;
  EXPECT_EQ(FormatTimeOfDay(*DecodePackedTime(time)), "12:34:56.000789");
  int64_t dt = (int64_t{2021} << 46) | (int64_t{7} << 42) | (int64_t{15} << 37) | time;
  int64_t days, micros;
  ASSERT_TRUE(DecodePackedDatetime(dt, &days, &micros).ok());
  EXPECT_EQ(FormatDatetime(days, micros), "2021-07-15T12:34:56.000789");
  EXPECT_FALSE(DecodePackedTime(int64_t{25} << 32).ok());
  EXPECT_FALSE(DecodePackedDatetime(
                   (int64_t{2021} << 46) | (int64_t{2} << 42) | (int64_t{30} << 37), &days, &micros)
                   .ok());
}

TEST(BqValues, DecimalNormalizationAndPrecision) {
  EXPECT_EQ(*NormalizeDecimal("001.2300", 29, 9), "1.23");
  EXPECT_EQ(*NormalizeDecimal("-0.000", 29, 9), "0");
  EXPECT_EQ(*NormalizeDecimal("1.5e3", 29, 9), "1500");
  EXPECT_EQ(*NormalizeDecimal("-12.5E-3", 29, 9), "-0.0125");
  EXPECT_TRUE(NormalizeDecimal(std::string(29, '9') + "." + std::string(9, '9'), 29, 9).ok());
  EXPECT_FALSE(NormalizeDecimal(std::string(30, '9'), 29, 9).ok());
  EXPECT_FALSE(NormalizeDecimal("0.0000000001", 29, 9).ok());
  EXPECT_TRUE(NormalizeDecimal("0.0000000001", 38, 38).ok());
  EXPECT_FALSE(NormalizeDecimal("12a", 29, 9).ok());
  EXPECT_FALSE(NormalizeDecimal("", 29, 9).ok());
  EXPECT_FALSE(NormalizeDecimal("NaN", 29, 9).ok());
}

// CheckDecimal counts digits instead of building the text; it must give
// NormalizeDecimal's verdict and message for every input, and the counts must
// match the normalized text's digits.
TEST(BqValues, CheckDecimalAgreesWithNormalizeDecimal) {
  const std::string inputs[] = {
      "0",
      "-0",
      "+0",
      "00",
      "0.",
      ".0",
      ".",
      "-",
      "+",
      "",
      "1",
      "-1",
      "+1.",
      ".5",
      "-.5",
      "001.2300",
      "100",
      "100.000",
      "1e0",
      "1e",
      "1e+",
      "1e-",
      "e5",
      "1.5e3",
      "-12.5E-3",
      "0.05e-1",
      "0e99999",
      "1e99999",
      "1e999999",
      "1e-9",
      "1e-10",
      "123456789e-18",
      "1.2.3",
      "1..2",
      "12a",
      " 1",
      "1 ",
      "NaN",
      "inf",
      "0x10",
      "--1",
      "1e--1",
      std::string(29, '9'),
      std::string(30, '9'),
      "0" + std::string(29, '9'),
      std::string(29, '9') + "0e-1",
      std::string(29, '9') + "." + std::string(9, '9'),
      "1." + std::string(9, '0') + "1",
      "1." + std::string(9, '9') + "0",
      "0." + std::string(37, '0') + "1",
      "0." + std::string(38, '0') + "1",
      std::string(38, '1') + "." + std::string(38, '1'),
      std::string(39, '1'),
      "000000000000000000000000000000000000000000000.5",
      "5" + std::string(40, '0') + "e-12",
  };
  const std::pair<int, int> limits[] = {{29, 9}, {38, 38}, {3, 2}, {0, 0}};
  for (const auto& text : inputs) {
    for (auto [idig, fdig] : limits) {
      SCOPED_TRACE("'" + text + "' " + std::to_string(idig) + "+" + std::to_string(fdig));
      auto norm = NormalizeDecimal(text, idig, fdig);
      Status check = CheckDecimal(text, idig, fdig);
      ASSERT_EQ(norm.ok(), check.ok()) << check.ToString();
      EXPECT_EQ(norm.status().message(), check.message());
      if (!norm.ok()) continue;
      // The limits hold on the normalized text itself.
      std::string n = *norm;
      if (n[0] == '-') n = n.substr(1);
      size_t dot = n.find('.');
      std::string int_part = n.substr(0, dot);
      size_t frac = dot == std::string::npos ? 0 : n.size() - dot - 1;
      EXPECT_TRUE(int_part == "0" || static_cast<int>(int_part.size()) <= idig) << n;
      EXPECT_LE(static_cast<int>(frac), fdig) << n;
    }
  }
}

TEST(BqValues, ScaledBytesDecimal) {
  // 1.5 as NUMERIC = 1500000000 scaled by 1e9, little endian.
  std::string b = {static_cast<char>(0x00), static_cast<char>(0x2F), static_cast<char>(0x68),
                   static_cast<char>(0x59)};
  EXPECT_EQ(*NormalizeDecimal(DecimalFromScaledBytes(b, 9), 29, 9), "1.5");
  std::string minus_one(16, static_cast<char>(0xFF));  // -1 / 1e9
  EXPECT_EQ(DecimalFromScaledBytes(minus_one, 9), "-0.000000001");
}

TEST(BqValues, Base64) {
  EXPECT_EQ(Base64Encode("hello!?"), "aGVsbG8hPw==");
  EXPECT_EQ(*Base64Decode("aGVsbG8hPw=="), "hello!?");
  EXPECT_FALSE(Base64Decode("a*b").ok());
}

}  // namespace
}  // namespace pg2bq::bqemu
