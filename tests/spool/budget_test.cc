// Disk budget: a full spool makes appends wait (back pressure), never fail or drop.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "spool/spool_writer.h"
#include "tests/spool/spool_test_util.h"

namespace pg2bq::spool {
namespace {

using namespace testing;  // NOLINT

SpoolOptions BudgetOptions(const TempDir& t) {
  SpoolOptions o = Options(t, FsyncPolicy::kAlways);
  o.segment_bytes = 16 << 10;
  o.max_bytes = 64 << 10;
  o.budget_wait = std::chrono::milliseconds(50);
  return o;
}

// Appends incompressible 2 KiB records until the budget refuses one.
int FillUntilFull(SpoolWriter* w, Status* last) {
  for (int i = 1; i < 1000; ++i) {
    auto pos = w->Append(Record(Batch(1, i, RandomBytes(2048, i))));
    if (!pos.ok()) {
      *last = pos.status();
      return i - 1;
    }
  }
  return 1000;
}

TEST(SpoolBudgetTest, FullBudgetReportsBackPressureAndWritesNothing) {
  TempDir t;
  auto w = SpoolWriter::Open(BudgetOptions(t));
  ASSERT_TRUE(w.ok());
  Status last;
  int written = FillUntilFull(w->get(), &last);
  EXPECT_GT(written, 20);
  EXPECT_LT(written, 40);
  EXPECT_EQ(last.code(), Status::Code::kResourceExhausted) << last.ToString();
  EXPECT_NE(last.message().find("budget"), std::string::npos);
  const Position end = (*w)->appended_end();
  EXPECT_LE((*w)->metrics().bytes_on_disk.load(), 64u << 10);
  EXPECT_EQ((*w)->metrics().budget_timeouts_total.load(), 1u);
  EXPECT_EQ((*w)->metrics().budget_blocked.load(), 1u);
  // Nothing partial was written: every record reads back, and the end did not move.
  EXPECT_EQ(ReadAll(t.spool()).size(), static_cast<std::size_t>(written));
  EXPECT_EQ((*w)->appended_end(), end);
}

TEST(SpoolBudgetTest, BlockedAppendResumesWhenSinkAcknowledges) {
  TempDir t;
  SpoolOptions o = BudgetOptions(t);
  o.budget_wait = std::chrono::seconds(30);
  auto w = SpoolWriter::Open(o);
  ASSERT_TRUE(w.ok());
  int i = 1;
  while ((*w)->metrics().bytes_on_disk.load() + 2200 <= o.max_bytes) {
    ASSERT_TRUE((*w)->Append(Record(Batch(1, i, RandomBytes(2048, i)))).ok());
    ++i;
  }
  std::atomic<bool> done{false};
  Status result;
  std::thread appender([&] {
    result = (*w)->Append(Record(Batch(1, i, RandomBytes(2048, i)))).status();
    done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(done.load()) << "append must wait while the budget is full";
  EXPECT_EQ((*w)->metrics().budget_blocked.load(), 1u);
  // The sink acknowledges everything durable: whole segments below it are freed.
  ASSERT_TRUE((*w)->Acknowledge(Checkpoint{(*w)->durable_end(), static_cast<Lsn>(i - 1)}).ok());
  appender.join();
  EXPECT_TRUE(result.ok()) << result.ToString();
  EXPECT_EQ((*w)->metrics().budget_blocked.load(), 0u);
  EXPECT_GE((*w)->metrics().budget_waits_total.load(), 1u);
}

TEST(SpoolBudgetTest, CancelWakesBlockedAppend) {
  TempDir t;
  SpoolOptions o = BudgetOptions(t);
  o.budget_wait = std::chrono::seconds(30);
  auto w = SpoolWriter::Open(o);
  ASSERT_TRUE(w.ok());
  Status last;
  std::thread appender([&] { FillUntilFull(w->get(), &last); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  (*w)->Cancel();
  appender.join();
  EXPECT_EQ(last.code(), Status::Code::kAborted) << last.ToString();
}

TEST(SpoolBudgetTest, SpilledTransactionsCountTowardTheBudget) {
  TempDir t;
  auto w = SpoolWriter::Open(BudgetOptions(t));
  ASSERT_TRUE(w.ok());
  RowBatch b = Batch(1, 0, RandomBytes(2048, 1));
  b.complete_through_lsn = 0;
  b.xid = 10;
  Status last;
  for (int i = 0; i < 100 && last.ok(); ++i)
    last = (*w)->AppendStreamed(b);
  EXPECT_EQ(last.code(), Status::Code::kResourceExhausted);
  // Aborting the transaction frees its bytes.
  ASSERT_TRUE((*w)->AbortStreamed(TxnAbort{10, 10, 1}).ok());
  EXPECT_TRUE((*w)->Append(Record(Batch(1, 1, RandomBytes(2048, 2)))).ok());
  EXPECT_EQ((*w)->metrics().budget_blocked.load(), 0u) << "the gauge clears once there is room";
}

}  // namespace
}  // namespace pg2bq::spool
