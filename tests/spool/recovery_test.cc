// Each kind of damage the spool recovers from, and each it refuses to hide.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "spool/format.h"
#include "spool/scan.h"
#include "spool/spool_writer.h"
#include "tests/spool/spool_test_util.h"

namespace pg2bq::spool {
namespace {

using namespace testing;  // NOLINT

// Writes `n` records (LSN 1..n) with fsync=always and closes the writer.
std::vector<SpoolEntry> Fill(const TempDir& t, int n, std::uint64_t segment_bytes = 64 << 20,
                             std::size_t payload = 2000) {
  SpoolOptions o = Options(t, FsyncPolicy::kAlways);
  o.segment_bytes = segment_bytes;
  auto w = SpoolWriter::Open(o);
  EXPECT_TRUE(w.ok());
  for (int i = 1; i <= n; ++i) {
    EXPECT_TRUE((*w)->Append(Record(Batch(1, i, RandomBytes(payload, i)))).ok());
  }
  return ReadAll(t.spool());
}

void FlipBit(const std::string& path, std::uint64_t offset, int bit = 3) {
  int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  char c;
  ASSERT_EQ(::pread(fd, &c, 1, static_cast<off_t>(offset)), 1);
  c = static_cast<char>(c ^ (1 << bit));
  ASSERT_EQ(::pwrite(fd, &c, 1, static_cast<off_t>(offset)), 1);
  ::close(fd);
}

void AppendBytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::app);
  f << bytes;
}

void ZeroRange(const std::string& path, std::uint64_t from, std::uint64_t to) {
  int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  std::string zeros(to - from, '\0');
  ASSERT_EQ(::pwrite(fd, zeros.data(), zeros.size(), static_cast<off_t>(from)),
            static_cast<ssize_t>(zeros.size()));
  ::close(fd);
}

Result<std::unique_ptr<SpoolWriter>> Reopen(const TempDir& t,
                                            std::uint64_t segment_bytes = 64 << 20) {
  SpoolOptions o = Options(t, FsyncPolicy::kAlways);
  o.segment_bytes = segment_bytes;
  return SpoolWriter::Open(o);
}

// After recovery, appending works and the result reads back cleanly.
void ExpectAppendable(const TempDir& t, Lsn next_lsn, std::size_t expect_total) {
  auto w = Reopen(t);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ASSERT_TRUE((*w)->Append(Record(Batch(1, next_lsn, "after recovery"))).ok());
  auto all = ReadAll(t.spool());
  ASSERT_EQ(all.size(), expect_total);
  EXPECT_EQ(std::get<RowBatch>(all.back().record).rows, "after recovery");
}

TEST(SpoolRecoveryTest, TruncatedRecordAtTailIsCutAndSpoolContinues) {
  TempDir t;
  auto entries = Fill(t, 5);
  const std::string seg = t.segment(1);
  ASSERT_EQ(::truncate(seg.c_str(), static_cast<off_t>(entries[4].position.offset + 100)), 0);
  {
    auto w = Reopen(t);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    EXPECT_NE((*w)->recovery_report().torn_tail.find("truncated record"), std::string::npos);
    EXPECT_EQ((*w)->durable_lsn(), 4u);
    EXPECT_EQ(FileSizeOf(seg), entries[4].position.offset);
  }
  ExpectAppendable(t, 5, 5);
}

TEST(SpoolRecoveryTest, TruncatedHeaderAtTailIsCut) {
  TempDir t;
  auto entries = Fill(t, 3);
  ASSERT_EQ(::truncate(t.segment(1).c_str(), static_cast<off_t>(entries[2].position.offset + 9)),
            0);
  auto w = Reopen(t);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_NE((*w)->recovery_report().torn_tail.find("truncated frame header"), std::string::npos);
  EXPECT_EQ((*w)->durable_lsn(), 2u);
}

TEST(SpoolRecoveryTest, ZeroFilledTailIsCut) {
  TempDir t;
  Fill(t, 3);
  AppendBytes(t.segment(1), std::string(8192, '\0'));
  {
    auto w = Reopen(t);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    EXPECT_NE((*w)->recovery_report().torn_tail.find("zero-filled"), std::string::npos);
    EXPECT_EQ((*w)->durable_lsn(), 3u);
  }
  ExpectAppendable(t, 4, 4);
}

TEST(SpoolRecoveryTest, LastFrameWhoseSectorsNeverReachedDiskIsCut) {
  TempDir t;
  auto entries = Fill(t, 3, 64 << 20, 8000);
  // The header and first sector of the last frame made it; the rest is zeros.
  const std::uint64_t start = entries[2].position.offset;
  const std::uint64_t end = entries[2].next.offset;
  ZeroRange(t.segment(1), (start / 512 + 2) * 512, end);
  auto w = Reopen(t);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_NE((*w)->recovery_report().torn_tail.find("checksum"), std::string::npos);
  EXPECT_EQ((*w)->durable_lsn(), 2u);
}

TEST(SpoolRecoveryTest, FlippedBitInLastRecordIsAHardErrorNotATornTail) {
  TempDir t;
  auto entries = Fill(t, 3);
  FlipBit(t.segment(1), entries[2].position.offset + 100);
  auto w = Reopen(t);
  ASSERT_FALSE(w.ok());
  EXPECT_TRUE(w.status().IsCorruption());
}

TEST(SpoolRecoveryTest, FlippedBitBeforeTailQuarantinesSegmentAndNamesIt) {
  TempDir t;
  auto entries = Fill(t, 5);
  const std::uint64_t bad_offset = entries[1].position.offset;
  FlipBit(t.segment(1), bad_offset + 40);
  auto w = Reopen(t);
  ASSERT_FALSE(w.ok());
  EXPECT_TRUE(w.status().IsCorruption());
  const std::string& msg = w.status().message();
  EXPECT_NE(msg.find(SegmentFileName(1)), std::string::npos) << msg;
  EXPECT_NE(msg.find("offset " + std::to_string(bad_offset)), std::string::npos) << msg;
  EXPECT_NE(msg.find("checksum"), std::string::npos) << msg;
  EXPECT_EQ(::access(t.segment(1).c_str(), F_OK), -1);
  EXPECT_EQ(::access((t.spool() + "/quarantine/" + SegmentFileName(1)).c_str(), F_OK), 0);
  // Nothing after it is silently skipped: the spool stays closed until an operator acts.
  auto again = Reopen(t);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(again.status().message().find("quarantine"), std::string::npos);
}

TEST(SpoolRecoveryTest, DamageInSealedSegmentIsAHardError) {
  TempDir t;
  auto entries = Fill(t, 30, 16 << 10);
  ASSERT_GT(ListSegments(t.spool())->size(), 2u);
  // Truncate segment 1 (not the last): a sealed segment must be complete.
  ASSERT_EQ(::truncate(t.segment(1).c_str(), static_cast<off_t>(FileSizeOf(t.segment(1)) - 5)), 0);
  auto w = Reopen(t, 16 << 10);
  ASSERT_FALSE(w.ok());
  EXPECT_TRUE(w.status().IsCorruption());
  EXPECT_NE(w.status().message().find("sealed"), std::string::npos);
}

TEST(SpoolRecoveryTest, MissingSegmentIsDetected) {
  TempDir t;
  Fill(t, 30, 16 << 10);
  ASSERT_GT(ListSegments(t.spool())->size(), 3u);
  ASSERT_EQ(::unlink(t.segment(2).c_str()), 0);
  auto w = Reopen(t, 16 << 10);
  ASSERT_FALSE(w.ok());
  EXPECT_TRUE(w.status().IsCorruption());
  EXPECT_NE(w.status().message().find(SegmentFileName(2) + " is missing"), std::string::npos)
      << w.status().message();
}

TEST(SpoolRecoveryTest, MissingSegmentAtCheckpointIsDetected) {
  TempDir t;
  auto entries = Fill(t, 30, 16 << 10);
  ASSERT_TRUE(WriteCheckpoint(t.spool(), Checkpoint{entries[0].next, 1}).ok());
  ASSERT_EQ(::unlink(t.segment(1).c_str()), 0);
  auto w = Reopen(t, 16 << 10);
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.status().message().find("checkpoint"), std::string::npos);
}

TEST(SpoolRecoveryTest, DamagedCheckpointIsAHardError) {
  TempDir t;
  auto entries = Fill(t, 3);
  ASSERT_TRUE(WriteCheckpoint(t.spool(), Checkpoint{entries[1].next, 2}).ok());
  FlipBit(t.spool() + "/CHECKPOINT", 20);
  auto w = Reopen(t);
  ASSERT_FALSE(w.ok());
  EXPECT_TRUE(w.status().IsCorruption());
  EXPECT_NE(w.status().message().find("CHECKPOINT"), std::string::npos);
}

TEST(SpoolRecoveryTest, SegmentWithTornHeaderAfterRolloverIsRemoved) {
  TempDir t;
  Fill(t, 3);
  // A crash right after creating segment 2, before its header reached the disk.
  AppendBytes(t.segment(2), std::string(17, '\0'));
  auto w = Reopen(t);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ((*w)->durable_lsn(), 3u);
  EXPECT_EQ(::access(t.segment(2).c_str(), F_OK), -1);
}

TEST(SpoolRecoveryTest, ReaderReportsCorruptionWithSegmentAndOffset) {
  TempDir t;
  auto entries = Fill(t, 4);
  FlipBit(t.segment(1), entries[1].position.offset + 30);
  auto r = SpoolReader::Open(t.spool(), Position{});
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE((*r)->Next().ok());
  auto e = (*r)->Next();
  ASSERT_FALSE(e.ok());
  EXPECT_TRUE(e.status().IsCorruption());
  EXPECT_NE(e.status().message().find("offset " + std::to_string(entries[1].position.offset)),
            std::string::npos);
}

TEST(SpoolRecoveryTest, ScanWithoutRepairChangesNothing) {
  TempDir t;
  auto entries = Fill(t, 3);
  AppendBytes(t.segment(1), std::string(100, '\0'));
  const std::uint64_t size = FileSizeOf(t.segment(1));
  ScanOptions o;
  o.decode_payloads = true;
  auto report = ScanSpool(t.spool(), o);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_FALSE(report->torn_tail.empty());
  EXPECT_EQ(report->torn_bytes, 100u);
  EXPECT_EQ(FileSizeOf(t.segment(1)), size);
  ASSERT_EQ(report->segments.size(), 1u);
  EXPECT_EQ(report->segments[0].records, 3u);
  EXPECT_EQ(report->segments[0].min_lsn, 1u);
  EXPECT_EQ(report->segments[0].max_lsn, 3u);
  // And damage is reported but not quarantined.
  FlipBit(t.segment(1), entries[0].position.offset + 20);
  auto bad = ScanSpool(t.spool(), o);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(::access(t.segment(1).c_str(), F_OK), 0);
}

}  // namespace
}  // namespace pg2bq::spool
