#include "tests/bq_emulator/change_sequence.h"

#include <gtest/gtest.h>

namespace pg2bq::bqemu {
namespace {

int Cmp(const char* a, const char* b) {
  auto x = ChangeSequence::Parse(a);
  auto y = ChangeSequence::Parse(b);
  EXPECT_TRUE(x.ok() && y.ok());
  return x->Compare(*y);
}

TEST(ChangeSequence, SectionsCompareAsUnsignedNumbers) {
  EXPECT_LT(Cmp("9", "A"), 0);   // hex, not decimal
  EXPECT_LT(Cmp("F", "10"), 0);  // numeric, not lexicographic
  EXPECT_GT(Cmp("1/2", "1/1"), 0);
  EXPECT_LT(Cmp("0/FFFFFFFFFFFFFFFF", "1/0"), 0);
  EXPECT_EQ(Cmp("00000000000000AB/01", "ab/1"), 0);
  EXPECT_GT(Cmp("FFFFFFFFFFFFFFFF", "7FFFFFFFFFFFFFFF"), 0);  // unsigned
  EXPECT_LT(Cmp("1", "1/1"), 0);
  EXPECT_EQ(Cmp("1", "1/0"), 0);
}

TEST(ChangeSequence, RejectsMalformed) {
  for (const char* bad : {"", "/", "1//2", "g", "1/2/3/4/5", "12345678901234567", "-1", " 1"}) {
    EXPECT_FALSE(ChangeSequence::Parse(bad).ok()) << bad;
  }
  EXPECT_TRUE(ChangeSequence::Parse("1/2/3/4").ok());
  EXPECT_TRUE(ChangeSequence::Parse("1234567890abcdef").ok());
}

TEST(ChangeSequence, ValidateAgreesWithParse) {
  for (const char* text :
       {"", "/", "1//2", "g", "1/2/3/4/5", "12345678901234567", "-1", " 1", "1/", "/1", "1/2/3/4",
        "0", "FFFFFFFFFFFFFFFF", "ab/CD/0/1", "1/2/3/4/", "1/2/3/4/g"}) {
    auto parsed = ChangeSequence::Parse(text);
    Status validated = ChangeSequence::Validate(text);
    EXPECT_EQ(parsed.ok(), validated.ok()) << text;
    EXPECT_EQ(parsed.status().message(), validated.message()) << text;
  }
}

}  // namespace
}  // namespace pg2bq::bqemu
