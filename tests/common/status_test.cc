#include "common/status.h"

#include <gtest/gtest.h>

namespace pg2bq {
namespace {

Status FailsWith(Status s) { return s; }

Status Chain(bool fail) {
  PG2BQ_RETURN_IF_ERROR(fail ? Status::IoError("disk full") : Status::Ok());
  return Status::NotFound("reached the end");
}

Result<int> Parse(bool ok) {
  if (!ok) return Status::InvalidArgument("not a number");
  return 42;
}

Result<int> Twice(bool ok) {
  PG2BQ_ASSIGN_OR_RETURN(int v, Parse(ok));
  return v * 2;
}

TEST(StatusTest, OkByDefault) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(StatusTest, CarriesCodeAndMessage) {
  Status s = FailsWith(Status::Corruption("segment 3 offset 17: bad checksum"));
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(s.IsCorruption());
  EXPECT_EQ(s.ToString(), "Corruption: segment 3 offset 17: bad checksum");
}

TEST(StatusTest, WithContextPrefixesOnlyFailures) {
  EXPECT_TRUE(Status::Ok().WithContext("ctx").ok());
  EXPECT_EQ(Status::IoError("EIO").WithContext("fsync spool/000001.seg").message(),
            "fsync spool/000001.seg: EIO");
}

TEST(StatusTest, ReturnIfErrorStopsAtFirstFailure) {
  EXPECT_EQ(Chain(true).code(), Status::Code::kIoError);
  EXPECT_EQ(Chain(false).code(), Status::Code::kNotFound);
}

TEST(ResultTest, ValueAndError) {
  auto good = Twice(true);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 84);
  auto bad = Twice(false);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "not a number");
}

}  // namespace
}  // namespace pg2bq
