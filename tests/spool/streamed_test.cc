// Streamed in-progress transactions: spilled per xid, visible only at commit,
// discarded on abort (whole transaction or one subtransaction).
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "spool/spool_writer.h"
#include "tests/spool/spool_test_util.h"

namespace pg2bq::spool {
namespace {

using namespace testing;  // NOLINT

RowBatch Streamed(std::uint32_t xid, std::uint32_t subxid, std::string rows) {
  RowBatch b = Batch(7, 0, std::move(rows));
  b.first_commit_lsn = b.last_commit_lsn = b.complete_through_lsn = kInvalidLsn;
  b.xid = xid;
  b.subxid = subxid;
  return b;
}

std::vector<std::string> RowsOf(const std::vector<SpoolEntry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) {
    if (auto* b = std::get_if<RowBatch>(&e.record)) out.push_back(b->rows);
    if (auto* c = std::get_if<TxnCommit>(&e.record))
      out.push_back("commit " + std::to_string(c->xid));
  }
  return out;
}

// ASan keeps freed blocks in its quarantine (256 MiB by default), so resident
// memory says nothing about what the spool holds on to under ASan.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kRssMeaningful = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kRssMeaningful = false;
#else
constexpr bool kRssMeaningful = true;
#endif
#else
constexpr bool kRssMeaningful = true;
#endif

std::uint64_t VmRssKiB() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6));
  }
  return 0;
}

TEST(SpoolStreamedTest, RowsBecomeVisibleOnlyAtCommit) {
  TempDir t;
  auto w = SpoolWriter::Open(Options(t, FsyncPolicy::kAlways));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->AppendStreamed(Streamed(900, 900, "s1")).ok());
  ASSERT_TRUE((*w)->Append(Record(Batch(1, 10, "ordinary txn"))).ok());
  ASSERT_TRUE((*w)->AppendStreamed(Streamed(900, 900, "s2")).ok());
  ASSERT_TRUE((*w)->Sync().ok());
  EXPECT_EQ(RowsOf(ReadAll(t.spool())), std::vector<std::string>({"ordinary txn"}));
  EXPECT_EQ(::access((t.spool() + "/spill/900.spill").c_str(), F_OK), 0);
  EXPECT_GT((*w)->metrics().spill_bytes.load(), 0u);
  ASSERT_TRUE((*w)->CommitStreamed(TxnCommit{900, 20, 21}).ok());
  EXPECT_EQ((*w)->durable_lsn(), 20u);
  EXPECT_EQ(RowsOf(ReadAll(t.spool())),
            std::vector<std::string>({"ordinary txn", "s1", "s2", "commit 900"}));
  EXPECT_EQ(::access((t.spool() + "/spill/900.spill").c_str(), F_OK), -1);
  EXPECT_EQ((*w)->metrics().spill_bytes.load(), 0u);
}

TEST(SpoolStreamedTest, AbortedTransactionIsDiscarded) {
  TempDir t;
  auto w = SpoolWriter::Open(Options(t, FsyncPolicy::kAlways));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->AppendStreamed(Streamed(901, 901, "doomed")).ok());
  ASSERT_TRUE((*w)->AbortStreamed(TxnAbort{901, 901, 30}).ok());
  EXPECT_EQ(::access((t.spool() + "/spill/901.spill").c_str(), F_OK), -1);
  ASSERT_TRUE((*w)->Append(Record(Batch(1, 40, "later"))).ok());
  EXPECT_EQ(RowsOf(ReadAll(t.spool())), std::vector<std::string>({"later"}));
  EXPECT_EQ((*w)->metrics().streamed_txns_aborted.load(), 1u);
}

TEST(SpoolStreamedTest, AbortedSubtransactionRowsAreDroppedAtCommit) {
  TempDir t;
  auto w = SpoolWriter::Open(Options(t, FsyncPolicy::kAlways));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->AppendStreamed(Streamed(902, 902, "top")).ok());
  ASSERT_TRUE((*w)->AppendStreamed(Streamed(902, 903, "sub kept")).ok());
  ASSERT_TRUE((*w)->AppendStreamed(Streamed(902, 904, "sub aborted")).ok());
  ASSERT_TRUE((*w)->AppendStreamed(Streamed(902, 905, "nested aborted")).ok());
  ASSERT_TRUE((*w)->AbortStreamed(TxnAbort{902, 905, 50}).ok());
  ASSERT_TRUE((*w)->AbortStreamed(TxnAbort{902, 904, 51}).ok());
  ASSERT_TRUE((*w)->AppendStreamed(Streamed(902, 902, "top again")).ok());
  ASSERT_TRUE((*w)->CommitStreamed(TxnCommit{902, 60, 61}).ok());
  EXPECT_EQ(RowsOf(ReadAll(t.spool())),
            std::vector<std::string>({"top", "sub kept", "top again", "commit 902"}));
}

TEST(SpoolStreamedTest, InterleavedTransactionsStaySeparate) {
  TempDir t;
  auto w = SpoolWriter::Open(Options(t, FsyncPolicy::kAlways));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->AppendStreamed(Streamed(1, 1, "a1")).ok());
  ASSERT_TRUE((*w)->AppendStreamed(Streamed(2, 2, "b1")).ok());
  ASSERT_TRUE((*w)->AppendStreamed(Streamed(1, 1, "a2")).ok());
  ASSERT_TRUE((*w)->AppendStreamed(Streamed(2, 2, "b2")).ok());
  ASSERT_TRUE((*w)->CommitStreamed(TxnCommit{2, 70, 71}).ok());
  ASSERT_TRUE((*w)->AbortStreamed(TxnAbort{1, 1, 72}).ok());
  EXPECT_EQ(RowsOf(ReadAll(t.spool())), std::vector<std::string>({"b1", "b2", "commit 2"}));
}

TEST(SpoolStreamedTest, CommitWithoutSpilledRowsWritesJustTheCommit) {
  TempDir t;
  auto w = SpoolWriter::Open(Options(t, FsyncPolicy::kAlways));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->CommitStreamed(TxnCommit{5, 80, 81}).ok());
  EXPECT_EQ(RowsOf(ReadAll(t.spool())), std::vector<std::string>({"commit 5"}));
  EXPECT_EQ((*w)->durable_lsn(), 80u);
}

TEST(SpoolStreamedTest, StaleSpillFilesAreRemovedOnOpen) {
  TempDir t;
  {
    auto w = SpoolWriter::Open(Options(t));
    ASSERT_TRUE(w.ok());
  }
  { std::ofstream(t.spool() + "/spill/77.spill") << "left by a crash"; }
  auto w = SpoolWriter::Open(Options(t));
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(::access((t.spool() + "/spill/77.spill").c_str(), F_OK), -1);
}

TEST(SpoolStreamedTest, IncompleteStreamedCopyAtTailIsDroppedOnRecovery) {
  TempDir t;
  Position before_copy;
  {
    auto w = SpoolWriter::Open(Options(t, FsyncPolicy::kAlways));
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Append(Record(Batch(1, 10, "committed"))).ok());
    before_copy = (*w)->durable_end();
    ASSERT_TRUE((*w)->AppendStreamed(Streamed(3, 3, "x1")).ok());
    ASSERT_TRUE((*w)->AppendStreamed(Streamed(3, 3, "x2")).ok());
    ASSERT_TRUE((*w)->CommitStreamed(TxnCommit{3, 20, 21}).ok());
  }
  auto entries = ReadAll(t.spool());
  ASSERT_EQ(entries.size(), 4u);
  // A crash after copying the rows but before the commit record was written.
  ASSERT_EQ(::truncate(t.segment(1).c_str(), static_cast<off_t>(entries[3].position.offset)), 0);
  auto w = SpoolWriter::Open(Options(t, FsyncPolicy::kAlways));
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_FALSE((*w)->recovery_report().incomplete_streamed_txn.empty());
  EXPECT_EQ((*w)->durable_lsn(), 10u);
  EXPECT_EQ((*w)->durable_end(), before_copy);
  EXPECT_EQ(RowsOf(ReadAll(t.spool())), std::vector<std::string>({"committed"}));
}

TEST(SpoolStreamedTest, LargeTransactionGoesToDiskNotMemory) {
  TempDir t;
  auto w = SpoolWriter::Open(Options(t));
  ASSERT_TRUE(w.ok());
  const std::uint64_t rss_before = VmRssKiB();
  constexpr int kBatches = 96;
  constexpr std::size_t kBatchBytes = 1 << 20;  // 96 MiB of incompressible rows
  std::string rows = RandomBytes(kBatchBytes, 1);
  for (int i = 0; i < kBatches; ++i) {
    rows[0] = static_cast<char>(i);
    ASSERT_TRUE((*w)->AppendStreamed(Streamed(4242, 4242, rows)).ok());
  }
  EXPECT_GE(FileSizeOf(t.spool() + "/spill/4242.spill"), kBatches * kBatchBytes);
  if (kRssMeaningful) {
    EXPECT_LT(VmRssKiB() - rss_before, 48u * 1024) << "spilled rows must not stay in memory";
  }
  ASSERT_TRUE((*w)->CommitStreamed(TxnCommit{4242, 100, 101}).ok());
  if (kRssMeaningful) {
    EXPECT_LT(VmRssKiB() - rss_before, 48u * 1024) << "the commit copy must stream";
  }
  ASSERT_TRUE((*w)->Sync().ok());
  std::size_t n = 0;
  auto r = SpoolReader::Open(t.spool(), Position{});
  ASSERT_TRUE(r.ok());
  for (;;) {
    auto e = (*r)->Next();
    ASSERT_TRUE(e.ok());
    if (!e->has_value()) break;
    ++n;
  }
  EXPECT_EQ(n, static_cast<std::size_t>(kBatches) + 1);
}

}  // namespace
}  // namespace pg2bq::spool
