// Crash test: a child process appends with fsync=always and reports every LSN it
// was told is durable; the parent SIGKILLs it at random points. After every kill,
// reopening must give exactly the records up to at least the last reported LSN, in
// order, without duplicates, gaps or damage. The child also spills streamed
// transactions (with an aborted subtransaction) and acknowledges checkpoints, so
// kills land in copies, rollovers, checkpoint writes and recovery itself.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <deque>
#include <random>
#include <thread>

#include "spool/spool_reader.h"
#include "spool/spool_writer.h"
#include "tests/spool/spool_test_util.h"

namespace pg2bq::spool {
namespace {

using namespace testing;  // NOLINT

constexpr int kIterations = 250;
constexpr std::uint32_t kSubxidBit = 1u << 30;

SpoolOptions CrashOptions(const TempDir& t) {
  SpoolOptions o = Options(t, FsyncPolicy::kAlways);
  o.segment_bytes = 48 << 10;  // roll often
  return o;
}

// Streamed transactions are every 7th LSN; part 1 is an aborted subtransaction.
bool IsStreamed(Lsn lsn) {
  return lsn % 7 == 0;
}

std::string Payload(Lsn lsn, int part) {
  return CompressibleRows(100 + (lsn * 37) % 3000, lsn * 3 + static_cast<Lsn>(part));
}

[[noreturn]] void ChildMain(const TempDir& t, int report_fd) {
  auto w = SpoolWriter::Open(CrashOptions(t));
  if (!w.ok()) {
    std::fprintf(stderr, "child: open: %s\n", w.status().ToString().c_str());
    ::_exit(3);
  }
  Lsn next = (*w)->durable_lsn() + 1;
  std::deque<std::pair<Position, Lsn>> acks;
  for (;; ++next) {
    Status s;
    if (IsStreamed(next)) {
      const auto xid = static_cast<std::uint32_t>(next);
      RowBatch b = Batch(2, 0, Payload(next, 0));
      b.complete_through_lsn = kInvalidLsn;
      b.xid = xid;
      b.subxid = xid;
      s = (*w)->AppendStreamed(b);
      b.subxid = xid | kSubxidBit;
      b.rows = Payload(next, 1);
      if (s.ok()) s = (*w)->AppendStreamed(b);
      if (s.ok()) s = (*w)->AbortStreamed(TxnAbort{xid, xid | kSubxidBit, next});
      b.subxid = xid;
      b.rows = Payload(next, 2);
      if (s.ok()) s = (*w)->AppendStreamed(b);
      if (s.ok()) s = (*w)->CommitStreamed(TxnCommit{xid, next, next});
    } else {
      s = (*w)->Append(Record(Batch(1, next, Payload(next, 0)))).status();
    }
    if (!s.ok()) {
      std::fprintf(stderr, "child: append %llu: %s\n", static_cast<unsigned long long>(next),
                   s.ToString().c_str());
      ::_exit(4);
    }
    if (::write(report_fd, &next, sizeof next) != sizeof next) ::_exit(5);
    // The sink lags ~20 transactions behind and acknowledges now and then.
    acks.emplace_back((*w)->durable_end(), next);
    if (acks.size() > 20) {
      auto [pos, lsn] = acks.front();
      acks.pop_front();
      if (lsn % 5 == 0 && !(*w)->Acknowledge(Checkpoint{pos, lsn}).ok()) ::_exit(6);
    }
  }
}

// Reopens the spool and checks it against the protocol above. Returns the last LSN.
Lsn Verify(const TempDir& t, Lsn last_reported, int iteration) {
  auto w = SpoolWriter::Open(CrashOptions(t));
  EXPECT_TRUE(w.ok()) << "iteration " << iteration << ": " << w.status().ToString();
  if (!w.ok()) return 0;
  auto cp = (*w)->last_checkpoint();
  Lsn expect = cp ? cp->acked_lsn + 1 : 1;
  auto reader = SpoolReader::Open(t.spool(), (*w)->start_position());
  EXPECT_TRUE(reader.ok());
  int part = -1;  // inside a streamed transaction: next expected part
  for (;;) {
    auto e = (*reader)->Next();
    EXPECT_TRUE(e.ok()) << "iteration " << iteration << ": " << e.status().ToString();
    if (!e.ok() || !e->has_value()) break;
    const Record& r = (**e).record;
    if (auto* b = std::get_if<RowBatch>(&r)) {
      if (b->xid == 0) {
        EXPECT_EQ(part, -1);
        EXPECT_EQ(b->complete_through_lsn, expect) << "iteration " << iteration;
        EXPECT_FALSE(IsStreamed(expect));
        EXPECT_EQ(b->rows, Payload(expect, 0));
        if (b->complete_through_lsn != expect) return 0;
        ++expect;
      } else {
        EXPECT_EQ(b->xid, expect) << "iteration " << iteration;
        EXPECT_TRUE(part == -1 || part == 0) << "aborted subtransaction rows leaked";
        part = part == -1 ? 0 : 2;
        EXPECT_EQ(b->rows, Payload(expect, part));
      }
    } else if (auto* c = std::get_if<TxnCommit>(&r)) {
      EXPECT_EQ(part, 2) << "iteration " << iteration;
      EXPECT_EQ(c->xid, expect);
      EXPECT_EQ(c->commit_lsn, expect);
      part = -1;
      ++expect;
    } else {
      ADD_FAILURE() << "unexpected record type";
    }
  }
  EXPECT_EQ(part, -1) << "a streamed transaction without its commit is visible";
  const Lsn last = expect - 1;
  EXPECT_GE(last, last_reported) << "iteration " << iteration << ": lost durable records";
  EXPECT_EQ((*w)->durable_lsn(), last) << "iteration " << iteration;
  return last;
}

TEST(SpoolCrashTest, SigkillAtRandomPointsLosesNothingDurable) {
  TempDir t;
  std::mt19937_64 rng(std::random_device{}());
  Lsn last_reported = 0;
  Lsn last_seen = 0;
  int kills_with_progress = 0;
  for (int i = 0; i < kIterations; ++i) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      ChildMain(t, fds[1]);
    }
    ::close(fds[1]);
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 30000));
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status))
        << "child exited on its own with status " << WEXITSTATUS(status) << " in iteration " << i;
    Lsn lsn = 0;
    const Lsn before = last_reported;
    while (::read(fds[0], &lsn, sizeof lsn) == sizeof lsn)
      last_reported = std::max(last_reported, lsn);
    ::close(fds[0]);
    if (last_reported > before) ++kills_with_progress;
    const Lsn last = Verify(t, last_reported, i);
    ASSERT_GE(last, last_seen) << "records went backwards in iteration " << i;
    last_seen = last;
    if (::testing::Test::HasFailure()) break;
  }
  RecordProperty("transactions", static_cast<int>(last_seen));
  std::printf("crash test: %d kills, %d after progress, %llu transactions durable\n", kIterations,
              kills_with_progress, static_cast<unsigned long long>(last_seen));
  EXPECT_GT(kills_with_progress, kIterations / 4) << "kills should land while appending";
}

}  // namespace
}  // namespace pg2bq::spool
