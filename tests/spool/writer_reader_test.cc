#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <thread>

#include "spool/checkpoint.h"
#include "spool/format.h"
#include "spool/spool_reader.h"
#include "spool/spool_writer.h"
#include "tests/spool/spool_test_util.h"

namespace pg2bq::spool {
namespace {

using namespace testing;  // NOLINT

TEST(SpoolWriterTest, AppendThenReadBackInOrder) {
  TempDir t;
  auto w = SpoolWriter::Open(Options(t));
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  std::vector<Position> positions;
  for (int i = 1; i <= 50; ++i) {
    auto pos = (*w)->Append(Record(Batch(100 + i % 3, i, CompressibleRows(1000 + i, i))));
    ASSERT_TRUE(pos.ok()) << pos.status().ToString();
    positions.push_back(*pos);
  }
  ASSERT_TRUE((*w)->Append(Record(DescriptorVersion{101, 2, 60, "desc"})).ok());
  ASSERT_TRUE((*w)->Sync().ok());
  EXPECT_EQ((*w)->durable_lsn(), 50u);
  auto entries = ReadAll(t.spool());
  ASSERT_EQ(entries.size(), 51u);
  for (int i = 1; i <= 50; ++i) {
    const auto& b = std::get<RowBatch>(entries[i - 1].record);
    EXPECT_EQ(b.complete_through_lsn, static_cast<Lsn>(i));
    EXPECT_EQ(b.table_id, 100u + i % 3);
    EXPECT_EQ(b.rows, CompressibleRows(1000 + i, i));
    EXPECT_EQ(entries[i - 1].position, positions[i - 1]);
    if (i > 1) {
      EXPECT_EQ(entries[i - 2].next, entries[i - 1].position);
    }
  }
  EXPECT_EQ(std::get<DescriptorVersion>(entries[50].record).descriptor, "desc");
}

TEST(SpoolWriterTest, FilesArePrivate) {
  TempDir t;
  auto w = SpoolWriter::Open(Options(t));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Append(Record(Batch(1, 1, "x"))).ok());
  ASSERT_TRUE((*w)->Acknowledge(Checkpoint{(*w)->start_position(), 0}).ok());
  struct stat st;
  ASSERT_EQ(::stat(t.spool().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat(t.segment(1).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((t.spool() + "/CHECKPOINT").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(SpoolWriterTest, SecondWriterOnSameDirectoryIsRefused) {
  TempDir t;
  auto w = SpoolWriter::Open(Options(t));
  ASSERT_TRUE(w.ok());
  auto w2 = SpoolWriter::Open(Options(t));
  ASSERT_FALSE(w2.ok());
  EXPECT_EQ(w2.status().code(), Status::Code::kFailedPrecondition);
}

TEST(SpoolWriterTest, RejectsBadOptions) {
  TempDir t;
  SpoolOptions o = Options(t);
  o.segment_bytes = 100;
  EXPECT_EQ(SpoolWriter::Open(o).status().code(), Status::Code::kInvalidArgument);
  o = Options(t);
  o.max_bytes = o.segment_bytes;
  EXPECT_EQ(SpoolWriter::Open(o).status().code(), Status::Code::kInvalidArgument);
  EXPECT_FALSE(ParseFsyncPolicy("sometimes").has_value());
  EXPECT_EQ(ParseFsyncPolicy("always"), FsyncPolicy::kAlways);
}

TEST(SpoolWriterTest, RollsSegmentsAndReadsAcrossThem) {
  TempDir t;
  SpoolOptions o = Options(t);
  o.segment_bytes = 16 << 10;
  auto w = SpoolWriter::Open(o);
  ASSERT_TRUE(w.ok());
  for (int i = 1; i <= 200; ++i) {
    ASSERT_TRUE((*w)->Append(Record(Batch(1, i, RandomBytes(700, i)))).ok());
  }
  ASSERT_TRUE((*w)->Sync().ok());
  auto segs = ListSegments(t.spool());
  ASSERT_TRUE(segs.ok());
  EXPECT_GT(segs->size(), 5u);
  for (auto s : *segs) {
    EXPECT_LE(FileSizeOf(t.segment(s)), o.segment_bytes);
  }
  auto entries = ReadAll(t.spool());
  ASSERT_EQ(entries.size(), 200u);
  for (int i = 1; i <= 200; ++i) {
    EXPECT_EQ(std::get<RowBatch>(entries[i - 1].record).rows, RandomBytes(700, i));
  }
  EXPECT_EQ((*w)->metrics().segments.load(), segs->size());
}

TEST(SpoolWriterTest, RecordLargerThanSegmentGetsItsOwnSegment) {
  TempDir t;
  SpoolOptions o = Options(t);
  o.segment_bytes = 8 << 10;
  auto w = SpoolWriter::Open(o);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Append(Record(Batch(1, 1, "small"))).ok());
  ASSERT_TRUE((*w)->Append(Record(Batch(1, 2, RandomBytes(50000, 1)))).ok());
  ASSERT_TRUE((*w)->Append(Record(Batch(1, 3, "small"))).ok());
  ASSERT_TRUE((*w)->Sync().ok());
  auto entries = ReadAll(t.spool());
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[1].position.segment, 2u);
  EXPECT_EQ(entries[2].position.segment, 3u);
}

TEST(SpoolWriterTest, ReopenRecoversRecordsAndDurableLsnAndContinues) {
  TempDir t;
  {
    auto w = SpoolWriter::Open(Options(t, FsyncPolicy::kAlways));
    ASSERT_TRUE(w.ok());
    for (int i = 1; i <= 10; ++i)
      ASSERT_TRUE((*w)->Append(Record(Batch(1, i * 10, "r"))).ok());
    EXPECT_EQ((*w)->durable_lsn(), 100u);
  }
  auto w = SpoolWriter::Open(Options(t, FsyncPolicy::kAlways));
  ASSERT_TRUE(w.ok());
  EXPECT_EQ((*w)->durable_lsn(), 100u);
  EXPECT_TRUE((*w)->recovery_report().torn_tail.empty());
  ASSERT_TRUE((*w)->Append(Record(Batch(1, 110, "r"))).ok());
  EXPECT_EQ((*w)->durable_lsn(), 110u);
  EXPECT_EQ(ReadAll(t.spool()).size(), 11u);
}

TEST(SpoolWriterTest, DurableLsnOnlyAdvancesWithCompleteThrough) {
  TempDir t;
  auto w = SpoolWriter::Open(Options(t, FsyncPolicy::kAlways));
  ASSERT_TRUE(w.ok());
  RowBatch part = Batch(1, 500, "first half of a big transaction");
  part.complete_through_lsn = 400;  // transaction 500 is not complete yet
  ASSERT_TRUE((*w)->Append(Record(part)).ok());
  EXPECT_EQ((*w)->durable_lsn(), 400u);
  ASSERT_TRUE((*w)->Append(Record(Batch(1, 500, "second half"))).ok());
  EXPECT_EQ((*w)->durable_lsn(), 500u);
}

TEST(SpoolWriterTest, BatchPolicySharesFsyncsAndBoundsDelay) {
  TempDir t;
  SpoolOptions o = Options(t, FsyncPolicy::kBatch);
  o.batch_delay = std::chrono::milliseconds(20);
  auto w = SpoolWriter::Open(o);
  ASSERT_TRUE(w.ok());
  for (int i = 1; i <= 1000; ++i)
    ASSERT_TRUE((*w)->Append(Record(Batch(1, i, "row"))).ok());
  // Durable within the bounded delay, without an explicit Sync.
  ASSERT_TRUE((*w)->WaitDurable(1000, std::chrono::seconds(5)).ok());
  EXPECT_LT((*w)->metrics().fsyncs.load(), 100u) << "appends must share fsyncs";
  EXPECT_GE((*w)->metrics().fsyncs.load(), 1u);
}

TEST(SpoolWriterTest, AlwaysPolicyIsDurableOnReturnAndGroupsConcurrentAppends) {
  TempDir t;
  auto w = SpoolWriter::Open(Options(t, FsyncPolicy::kAlways));
  ASSERT_TRUE(w.ok());
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int th = 0; th < 4; ++th) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        // Each thread's append completes only what it appended.
        auto pos = (*w)->Append(Record(Batch(1, 0, "row")));
        if (!pos.ok() || (*w)->durable_end() <= *pos) failures++;
      }
    });
  }
  for (auto& th : threads)
    th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_LE((*w)->metrics().fsyncs.load(), 200u);
  EXPECT_EQ(ReadAll(t.spool()).size(), 200u);
}

TEST(SpoolWriterTest, WaitDurableTimesOut) {
  TempDir t;
  auto w = SpoolWriter::Open(Options(t));
  ASSERT_TRUE(w.ok());
  auto s = (*w)->WaitDurable(999, std::chrono::milliseconds(20));
  EXPECT_EQ(s.code(), Status::Code::kUnavailable);
}

TEST(SpoolReaderTest, TailingReaderSeesOnlyDurableRecordsWhileWriterAppends) {
  TempDir t;
  SpoolOptions o = Options(t, FsyncPolicy::kBatch);
  o.segment_bytes = 32 << 10;
  auto w = SpoolWriter::Open(o);
  ASSERT_TRUE(w.ok());
  constexpr int kRecords = 2000;
  std::atomic<bool> reader_ok{true};
  std::thread reader_thread([&] {
    auto r = SpoolReader::Open(t.spool(), (*w)->start_position(), (*w)->tail());
    if (!r.ok()) {
      reader_ok = false;
      return;
    }
    int expect = 1;
    while (expect <= kRecords) {
      auto e = (*r)->Next();
      if (!e.ok()) {
        ADD_FAILURE() << e.status().ToString();
        reader_ok = false;
        return;
      }
      if (!e->has_value()) {
        (*r)->WaitForMore(std::chrono::milliseconds(100));
        continue;
      }
      const auto& b = std::get<RowBatch>((*e)->record);
      if (b.complete_through_lsn != static_cast<Lsn>(expect) || (*e)->next > (*w)->durable_end()) {
        ADD_FAILURE() << "record " << expect << " out of order or not durable";
        reader_ok = false;
        return;
      }
      ++expect;
    }
  });
  for (int i = 1; i <= kRecords; ++i) {
    ASSERT_TRUE((*w)->Append(Record(Batch(1, i, CompressibleRows(200, i)))).ok());
  }
  reader_thread.join();
  EXPECT_TRUE(reader_ok.load());
}

TEST(SpoolReaderTest, ReaderWithoutTailStopsAtIncompleteFrame) {
  TempDir t;
  {
    auto w = SpoolWriter::Open(Options(t, FsyncPolicy::kAlways));
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Append(Record(Batch(1, 1, "a"))).ok());
    ASSERT_TRUE((*w)->Append(Record(Batch(1, 2, "b"))).ok());
  }
  // A half-written frame, as another process would see a write in progress.
  std::uint64_t size = FileSizeOf(t.segment(1));
  ASSERT_EQ(::truncate(t.segment(1).c_str(), static_cast<off_t>(size - 3)), 0);
  EXPECT_EQ(ReadAll(t.spool()).size(), 1u);
}

TEST(SpoolCheckpointTest, AcknowledgeDeletesSegmentsBelowAndPersists) {
  TempDir t;
  SpoolOptions o = Options(t, FsyncPolicy::kAlways);
  o.segment_bytes = 8 << 10;
  Position ack;
  {
    auto w = SpoolWriter::Open(o);
    ASSERT_TRUE(w.ok());
    for (int i = 1; i <= 60; ++i) {
      ASSERT_TRUE((*w)->Append(Record(Batch(1, i, RandomBytes(1000, i)))).ok());
    }
    auto entries = ReadAll(t.spool());
    ASSERT_EQ(entries.size(), 60u);
    ack = entries[39].next;  // first 40 acknowledged
    EXPECT_GT(ack.segment, 3u);
    ASSERT_TRUE((*w)->Acknowledge(Checkpoint{ack, 40}).ok());
    for (std::uint64_t s = 1; s < ack.segment; ++s) {
      EXPECT_EQ(::access(t.segment(s).c_str(), F_OK), -1) << "segment " << s;
    }
    EXPECT_EQ(::access(t.segment(ack.segment).c_str(), F_OK), 0);
    // Going back, or beyond what is durable, is refused.
    EXPECT_FALSE((*w)->Acknowledge(Checkpoint{Position{1, 40}, 1}).ok());
    EXPECT_FALSE((*w)->Acknowledge(Checkpoint{Position{999, 40}, 1}).ok());
  }
  auto cp = ReadCheckpoint(t.spool());
  ASSERT_TRUE(cp.ok());
  ASSERT_TRUE(cp->has_value());
  EXPECT_EQ((*cp)->position, ack);
  EXPECT_EQ((*cp)->acked_lsn, 40u);
  auto w = SpoolWriter::Open(o);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ((*w)->start_position(), ack);
  EXPECT_EQ((*w)->durable_lsn(), 60u);
  auto rest = ReadAll(t.spool(), (*w)->start_position());
  ASSERT_EQ(rest.size(), 20u);
  EXPECT_EQ(std::get<RowBatch>(rest[0].record).complete_through_lsn, 41u);
}

TEST(SpoolCheckpointTest, DurableLsnSurvivesDeletionOfEverySegmentWithRecords) {
  TempDir t;
  SpoolOptions o = Options(t, FsyncPolicy::kAlways);
  o.segment_bytes = 4096;
  {
    auto w = SpoolWriter::Open(o);
    ASSERT_TRUE(w.ok());
    for (int i = 1; i <= 10; ++i) {
      ASSERT_TRUE((*w)->Append(Record(Batch(1, i, RandomBytes(3000, i)))).ok());
    }
    // Everything acknowledged; the newest segment holds the last record only.
    ASSERT_TRUE((*w)->Acknowledge(Checkpoint{(*w)->durable_end(), 10}).ok());
  }
  auto w = SpoolWriter::Open(o);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ((*w)->durable_lsn(), 10u);
  EXPECT_EQ(ReadAll(t.spool(), (*w)->start_position()).size(), 0u);
}

TEST(SpoolCheckpointTest, StaleSegmentsBelowCheckpointAreRemovedOnOpen) {
  TempDir t;
  SpoolOptions o = Options(t, FsyncPolicy::kAlways);
  o.segment_bytes = 4096;
  Position ack;
  {
    auto w = SpoolWriter::Open(o);
    ASSERT_TRUE(w.ok());
    for (int i = 1; i <= 10; ++i) {
      ASSERT_TRUE((*w)->Append(Record(Batch(1, i, RandomBytes(3000, i)))).ok());
    }
    ack = (*w)->durable_end();
  }
  // Crash between writing the checkpoint and deleting segments.
  ASSERT_TRUE(WriteCheckpoint(t.spool(), Checkpoint{ack, 10}).ok());
  auto w = SpoolWriter::Open(o);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_FALSE((*w)->recovery_report().stale_segments.empty());
  EXPECT_EQ(ListSegments(t.spool())->size(), 1u);
}

TEST(SpoolMetricsTest, PrometheusTextNamesEveryMetric) {
  TempDir t;
  auto w = SpoolWriter::Open(Options(t));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Append(Record(Batch(1, 1, "x"))).ok());
  std::string text = (*w)->metrics().ToPrometheus();
  EXPECT_NE(text.find("pg2bq_spool_records_appended_total 1"), std::string::npos);
  EXPECT_NE(text.find("pg2bq_spool_budget_blocked 0"), std::string::npos);
}

}  // namespace
}  // namespace pg2bq::spool

namespace pg2bq::spool {
namespace {

// The agent's shape: the encoder appends while a flusher tails, sends and
// acknowledges; acknowledged segments disappear underneath, nothing is skipped.
TEST(SpoolConcurrencyTest, EncoderAppendsWhileFlusherReadsAndAcknowledges) {
  testing::TempDir t;
  SpoolOptions o = testing::Options(t, FsyncPolicy::kBatch);
  o.segment_bytes = 16 << 10;
  o.max_bytes = 96 << 10;  // small budget: the encoder must wait for the flusher
  o.budget_wait = std::chrono::seconds(30);
  auto w = SpoolWriter::Open(o);
  ASSERT_TRUE(w.ok());
  constexpr int kRecords = 3000;
  std::atomic<int> flushed{0};
  std::atomic<bool> failed{false};
  std::thread flusher([&] {
    // BigQuery is slow to start: the encoder fills the budget and has to wait.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto r = SpoolReader::Open(t.spool(), (*w)->start_position(), (*w)->tail());
    if (!r.ok()) {
      failed = true;
      return;
    }
    int expect = 1;
    while (expect <= kRecords) {
      auto e = (*r)->Next();
      if (!e.ok()) {
        ADD_FAILURE() << e.status().ToString();
        failed = true;
        return;
      }
      if (!e->has_value()) {
        (*r)->WaitForMore(std::chrono::milliseconds(50));
        continue;
      }
      const auto& b = std::get<RowBatch>((**e).record);
      if (b.complete_through_lsn != static_cast<Lsn>(expect) ||
          b.rows != testing::RandomBytes(500, static_cast<std::uint64_t>(expect))) {
        ADD_FAILURE() << "record " << expect << " wrong";
        failed = true;
        return;
      }
      if (expect % 50 == 0) {
        Status s = (*w)->Acknowledge(Checkpoint{(**e).next, b.complete_through_lsn});
        if (!s.ok()) {
          ADD_FAILURE() << s.ToString();
          failed = true;
          return;
        }
      }
      flushed = expect++;
    }
  });
  for (int i = 1; i <= kRecords && !failed; ++i) {
    auto pos = (*w)->Append(
        Record(testing::Batch(1, i, testing::RandomBytes(500, static_cast<std::uint64_t>(i)))));
    ASSERT_TRUE(pos.ok()) << pos.status().ToString();
  }
  flusher.join();
  EXPECT_FALSE(failed.load());
  EXPECT_EQ(flushed.load(), kRecords);
  EXPECT_GT((*w)->metrics().budget_waits_total.load(), 0u) << "the budget should have bitten";
  EXPECT_LE(ListSegments(t.spool())->size(), 7u) << "acknowledged segments must be deleted";
}

}  // namespace
}  // namespace pg2bq::spool
