// `pg2bq spool inspect|verify DIR` against intact and damaged spools.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include "tests/spool/spool_test_util.h"

namespace pg2bq::spool {
namespace {

using namespace testing;  // NOLINT

struct CliRun {
  int exit_code = -1;
  std::string output;  // stdout + stderr
};

CliRun Pg2bq(const std::string& args) {
  CliRun r;
  const std::string cmd = std::string(PG2BQ_BINARY) + " " + args + " 2>&1";
  std::FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0)
    r.output.append(buf, n);
  int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::vector<SpoolEntry> MakeSpool(const TempDir& t) {
  SpoolOptions o = Options(t, FsyncPolicy::kAlways);
  o.segment_bytes = 16 << 10;
  auto w = SpoolWriter::Open(o);
  EXPECT_TRUE(w.ok());
  for (int i = 1; i <= 40; ++i) {
    EXPECT_TRUE(
        (*w)->Append(
                Record(Batch(16384, i, i % 2 ? RandomBytes(3000, i) : CompressibleRows(3000, i))))
            .ok());
  }
  EXPECT_TRUE((*w)->Append(Record(DescriptorVersion{16384, 2, 41, "d"})).ok());
  return ReadAll(t.spool());
}

TEST(SpoolCliTest, InspectAndVerifyIntactSpool) {
  TempDir t;
  MakeSpool(t);
  CliRun v = Pg2bq("spool verify " + t.spool());
  EXPECT_EQ(v.exit_code, 0) << v.output;
  EXPECT_NE(v.output.find("OK"), std::string::npos) << v.output;
  EXPECT_NE(v.output.find("41 records"), std::string::npos) << v.output;
  CliRun i = Pg2bq("spool inspect " + t.spool() + " --records");
  EXPECT_EQ(i.exit_code, 0) << i.output;
  EXPECT_NE(i.output.find(SegmentFileName(1)), std::string::npos) << i.output;
  EXPECT_NE(i.output.find("compression"), std::string::npos) << i.output;
  EXPECT_NE(i.output.find("0/1..0/"), std::string::npos) << i.output;
  EXPECT_NE(i.output.find("descriptor"), std::string::npos) << i.output;
}

TEST(SpoolCliTest, VerifyReportsFlippedBitWithSegmentAndOffsetAndChangesNothing) {
  TempDir t;
  auto entries = MakeSpool(t);
  const auto& victim = entries[3];
  const std::string path = t.segment(victim.position.segment);
  int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  char c;
  ASSERT_EQ(::pread(fd, &c, 1, static_cast<off_t>(victim.position.offset + 50)), 1);
  c ^= 0x10;
  ASSERT_EQ(::pwrite(fd, &c, 1, static_cast<off_t>(victim.position.offset + 50)), 1);
  ::close(fd);
  CliRun v = Pg2bq("spool verify " + t.spool());
  EXPECT_EQ(v.exit_code, 1) << v.output;
  EXPECT_NE(v.output.find("DAMAGED"), std::string::npos) << v.output;
  EXPECT_NE(v.output.find(SegmentFileName(victim.position.segment)), std::string::npos);
  EXPECT_NE(v.output.find("offset " + std::to_string(victim.position.offset)), std::string::npos)
      << v.output;
  EXPECT_EQ(::access(path.c_str(), F_OK), 0) << "verify must not quarantine";
}

TEST(SpoolCliTest, VerifyReportsMissingSegmentAndQuarantine) {
  TempDir t;
  MakeSpool(t);
  ASSERT_EQ(::unlink(t.segment(2).c_str()), 0);
  CliRun v = Pg2bq("spool verify " + t.spool());
  EXPECT_EQ(v.exit_code, 1) << v.output;
  EXPECT_NE(v.output.find(SegmentFileName(2) + " is missing"), std::string::npos) << v.output;
}

TEST(SpoolCliTest, UsageErrors) {
  EXPECT_EQ(Pg2bq("spool").exit_code, 2);
  EXPECT_EQ(Pg2bq("spool frobnicate /tmp").exit_code, 2);
  CliRun r = Pg2bq("spool verify /nonexistent/pg2bq-spool");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("/nonexistent/pg2bq-spool"), std::string::npos);
  EXPECT_EQ(Pg2bq("spool --help").exit_code, 0);
}

}  // namespace
}  // namespace pg2bq::spool
