#include "common/lsn.h"

#include <gtest/gtest.h>

namespace pg2bq {
namespace {

TEST(LsnTest, RoundTrips) {
  for (Lsn v : {Lsn{0}, Lsn{1}, Lsn{0x16B374D848}, Lsn{0xFFFFFFFFFFFFFFFF}}) {
    auto parsed = ParseLsn(FormatLsn(v));
    ASSERT_TRUE(parsed.has_value()) << FormatLsn(v);
    EXPECT_EQ(*parsed, v);
  }
}

TEST(LsnTest, FormatsLikePostgres) {
  EXPECT_EQ(FormatLsn(0x16B374D848), "16/B374D848");
  EXPECT_EQ(FormatLsn(0), "0/0");
  EXPECT_EQ(ParseLsn("0/16B3748").value(), 0x16B3748u);
  EXPECT_EQ(ParseLsn("ab/cd").value(), (Lsn{0xab} << 32) | 0xcd);
}

TEST(LsnTest, RejectsGarbage) {
  for (const char* bad : {"", "/", "1/", "/1", "x/1", "1/1/1", "123456789/0", "1 /0", "-1/0"}) {
    EXPECT_FALSE(ParseLsn(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace pg2bq
