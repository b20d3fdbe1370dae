#include "spool/format.h"

#include <gtest/gtest.h>

#include "common/crc32c.h"
#include "spool/compression.h"
#include "tests/spool/spool_test_util.h"

namespace pg2bq::spool {
namespace {

using testing::CompressibleRows;
using testing::RandomBytes;

std::string Encode(const Record& r, Compressor* c) {
  std::string out;
  EXPECT_TRUE(EncodeFrame(r, c, &out).ok());
  return out;
}

Record RoundTrip(const Record& r, std::uint8_t* flags = nullptr) {
  Compressor c(1);
  Decompressor d;
  std::string bytes = Encode(r, &c);
  FrameView f;
  EXPECT_EQ(ParseFrame(bytes, &f), FrameStatus::kOk);
  EXPECT_EQ(f.frame_size, bytes.size());
  if (flags != nullptr) *flags = f.flags;
  auto rec = DecodeFrame(f, &d);
  EXPECT_TRUE(rec.ok()) << rec.status().ToString();
  return rec.ok() ? *rec : Record{};
}

TEST(SpoolFormatTest, RowBatchRoundTripsEveryField) {
  RowBatch b;
  b.table_id = 16384;
  b.descriptor_version = 7;
  b.row_count = 1000;
  b.first_commit_lsn = 0x16B374D848;
  b.last_commit_lsn = 0x16B3800000;
  b.complete_through_lsn = 0x16B3700000;
  b.xid = 0;
  b.rows = CompressibleRows(10000, 1);
  std::uint8_t flags = 0;
  Record r = RoundTrip(Record(b), &flags);
  const auto& got = std::get<RowBatch>(r);
  EXPECT_EQ(got.table_id, b.table_id);
  EXPECT_EQ(got.descriptor_version, b.descriptor_version);
  EXPECT_EQ(got.row_count, b.row_count);
  EXPECT_EQ(got.first_commit_lsn, b.first_commit_lsn);
  EXPECT_EQ(got.last_commit_lsn, b.last_commit_lsn);
  EXPECT_EQ(got.complete_through_lsn, b.complete_through_lsn);
  EXPECT_EQ(got.rows, b.rows);
  EXPECT_EQ(flags & kFlagZstd, kFlagZstd);
}

TEST(SpoolFormatTest, ControlRecordsRoundTrip) {
  DescriptorVersion d{42, 3, 0x100, "descriptor-bytes"};
  auto dr = std::get<DescriptorVersion>(RoundTrip(Record(d)));
  EXPECT_EQ(dr.table_id, 42u);
  EXPECT_EQ(dr.version, 3u);
  EXPECT_EQ(dr.lsn, 0x100u);
  EXPECT_EQ(dr.descriptor, "descriptor-bytes");

  TxnCommit c{77, 0x200, 0x210};
  auto cr = std::get<TxnCommit>(RoundTrip(Record(c)));
  EXPECT_EQ(cr.xid, 77u);
  EXPECT_EQ(cr.commit_lsn, 0x200u);
  EXPECT_EQ(cr.end_lsn, 0x210u);

  TxnAbort a{77, 78, 0x300};
  auto ar = std::get<TxnAbort>(RoundTrip(Record(a)));
  EXPECT_EQ(ar.xid, 77u);
  EXPECT_EQ(ar.subxid, 78u);
  EXPECT_EQ(ar.abort_lsn, 0x300u);

  SnapshotMarker s{9, SnapshotMarker::Kind::kEnd, 0x400, "00000003-00000002-1"};
  auto sr = std::get<SnapshotMarker>(RoundTrip(Record(s)));
  EXPECT_EQ(sr.table_id, 9u);
  EXPECT_EQ(sr.kind, SnapshotMarker::Kind::kEnd);
  EXPECT_EQ(sr.snapshot_lsn, 0x400u);
  EXPECT_EQ(sr.detail, "00000003-00000002-1");
}

TEST(SpoolFormatTest, CompressesOnlyWhenItHelps) {
  Compressor c(1);
  std::string compressible =
      Encode(Record(testing::Batch(1, 1, CompressibleRows(64 << 10, 2))), &c);
  EXPECT_LT(compressible.size(), (64u << 10) / 2);
  std::uint8_t flags = 0xff;
  RoundTrip(Record(testing::Batch(1, 1, RandomBytes(8192, 3))), &flags);
  EXPECT_EQ(flags & kFlagZstd, 0) << "incompressible payload must be stored raw";
  RoundTrip(Record(testing::Batch(1, 1, std::string(10, 'a'))), &flags);
  EXPECT_EQ(flags & kFlagZstd, 0) << "tiny payload must be stored raw";
  RoundTrip(Record(testing::Batch(1, 1, "")), &flags);
}

TEST(SpoolFormatTest, EveryFlippedBitIsDetected) {
  Compressor c(1);
  std::string good = Encode(Record(testing::Batch(5, 0x99, CompressibleRows(300, 4))), &c);
  for (std::size_t bit = 0; bit < good.size() * 8; ++bit) {
    std::string bad = good;
    bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
    FrameView f;
    EXPECT_NE(ParseFrame(bad, &f), FrameStatus::kOk) << "bit " << bit;
  }
}

TEST(SpoolFormatTest, ClassifiesTruncationAndZeroFill) {
  Compressor c(1);
  std::string good = Encode(Record(testing::Batch(5, 0x99, CompressibleRows(300, 4))), &c);
  FrameView f;
  EXPECT_EQ(ParseFrame("", &f), FrameStatus::kEnd);
  EXPECT_EQ(ParseFrame(std::string_view(good).substr(0, 10), &f), FrameStatus::kTruncatedHeader);
  EXPECT_EQ(ParseFrame(std::string_view(good).substr(0, good.size() - 1), &f),
            FrameStatus::kTruncatedRecord);
  EXPECT_EQ(ParseFrame(std::string(4096, '\0'), &f), FrameStatus::kZeroFilled);
  EXPECT_EQ(ParseFrame(std::string(7, '\0'), &f), FrameStatus::kZeroFilled);
  std::string huge = good;
  huge[7] = '\x7f';  // length far above the format limit
  EXPECT_EQ(ParseFrame(huge, &f), FrameStatus::kBadLength);
}

TEST(SpoolFormatTest, SegmentHeaderRoundTripAndDamage) {
  SegmentHeader h{12, 0xABCDEF};
  std::string bytes = EncodeSegmentHeader(h);
  ASSERT_EQ(bytes.size(), kSegmentHeaderSize);
  auto got = DecodeSegmentHeader(bytes, "x.seg");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->sequence, 12u);
  EXPECT_EQ(got->prior_lsn, 0xABCDEFu);
  std::string bad = bytes;
  bad[20] ^= 1;
  auto st = DecodeSegmentHeader(bad, "x.seg");
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(st.status().IsCorruption());
  EXPECT_NE(st.status().message().find("x.seg"), std::string::npos);
  bad = bytes;
  bad[0] = 'X';
  EXPECT_FALSE(DecodeSegmentHeader(bad, "x.seg").ok());
}

TEST(SpoolFormatTest, DecompressionMismatchIsCorruption) {
  Compressor c(1);
  std::string bytes = Encode(Record(testing::Batch(1, 1, CompressibleRows(5000, 9))), &c);
  // Rewrite the raw-size field and fix the checksum: the frame parses, decoding fails.
  bytes[kFrameHeaderSize + 12] ^= 1;
  std::uint32_t crc = crc32c::Value(bytes.data() + 4, bytes.size() - 4);
  std::string m;
  PutFixed32(&m, crc32c::Mask(crc));
  bytes.replace(0, 4, m);
  FrameView f;
  ASSERT_EQ(ParseFrame(bytes, &f), FrameStatus::kOk);
  Decompressor d;
  auto r = DecodeFrame(f, &d);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsCorruption());
}

}  // namespace
}  // namespace pg2bq::spool
