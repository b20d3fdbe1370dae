#include "sink/change_sequence.h"

#include <gtest/gtest.h>

namespace pg2bq::sink {
namespace {

TEST(ChangeSequenceTest, FixedWidthUpperHex) {
  EXPECT_EQ(FormatChangeSequence(0x16B374D848, 3), "00000016B374D848/0000000000000003");
  EXPECT_EQ(FormatChangeSequence(0, 0), "0000000000000000/0000000000000000");
  EXPECT_EQ(FormatChangeSequence(~0ULL, ~0ULL), "FFFFFFFFFFFFFFFF/FFFFFFFFFFFFFFFF");
}

TEST(ChangeSequenceTest, StringOrderIsCommitOrder) {
  // Within a transaction by ordinal; across transactions by commit LSN regardless of ordinal.
  EXPECT_LT(FormatChangeSequence(0x100, 9), FormatChangeSequence(0x100, 10));
  EXPECT_LT(FormatChangeSequence(0x100, 0xFFFF), FormatChangeSequence(0x101, 0));
  EXPECT_LT(FormatChangeSequence(0xF, 0), FormatChangeSequence(0x10, 0));
}

TEST(ChangeSequenceTest, ParsesBack) {
  auto cs = ParseChangeSequence(FormatChangeSequence(0xABCDEF, 42));
  ASSERT_TRUE(cs);
  EXPECT_EQ(cs->commit_lsn, 0xABCDEFu);
  EXPECT_EQ(cs->ordinal, 42u);
  EXPECT_FALSE(ParseChangeSequence("12345"));
  EXPECT_FALSE(ParseChangeSequence("G/1"));
  EXPECT_FALSE(ParseChangeSequence("11111111111111111/1"));  // 17 digits
}

}  // namespace
}  // namespace pg2bq::sink
