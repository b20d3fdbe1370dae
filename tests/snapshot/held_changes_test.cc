// HeldChanges: side spools of tables copied while streaming (docs/SNAPSHOT.md, "Hold-back").
#include "agent/snapshot/held_changes.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "spool/spool_reader.h"
#include "spool/spool_writer.h"

namespace pg2bq::agent::snapshot {
namespace {

class HeldChangesTest : public ::testing::Test {
 protected:
  HeldChangesTest() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "pg2bq-held-XXXXXX").string();
    root_ = ::mkdtemp(tmpl.data());
    options_.fsync = spool::FsyncPolicy::kAlways;
    options_.segment_bytes = 1 << 20;
  }
  ~HeldChangesTest() override {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  std::unique_ptr<spool::SpoolWriter> OpenMain() {
    spool::SpoolOptions o = options_;
    o.dir = root_ + "/spool";
    auto w = spool::SpoolWriter::Open(o);
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    return w.ok() ? std::move(*w) : nullptr;
  }
  static spool::RowBatch Batch(std::uint32_t table, Lsn commit, const std::string& rows) {
    spool::RowBatch b;
    b.table_id = table;
    b.descriptor_version = 1;
    b.row_count = 1;
    b.first_commit_lsn = b.last_commit_lsn = commit;
    b.complete_through_lsn = commit;
    b.rows = rows;
    return b;
  }
  static std::vector<spool::Record> ReadAll(spool::SpoolWriter* w) {
    std::vector<spool::Record> out;
    auto r = spool::SpoolReader::Open(w->options().dir, w->start_position(), w->tail());
    EXPECT_TRUE(r.ok());
    for (;;) {
      auto next = (*r)->Next();
      EXPECT_TRUE(next.ok());
      if (!next.ok() || !next->has_value()) break;
      out.push_back((*next)->record);
    }
    return out;
  }

  std::string root_;
  spool::SpoolOptions options_;
};

TEST_F(HeldChangesTest, HeldRecordsSurviveAReopenAndReplayInOrderBehindWhatIsThere) {
  auto main = OpenMain();
  ASSERT_TRUE(main->Append(Batch(7, 100, "copy")).ok());
  {
    HeldChanges held(root_ + "/snapshot", options_);
    ASSERT_TRUE(held.Open(7, 0x50).ok());
    const std::vector<spool::Record> first = {Batch(7, 0x60, "a"), Batch(7, 0x70, "b")};
    ASSERT_TRUE(held.Append(7, first).ok());
    spool::DescriptorVersion dv;
    dv.table_id = 7;
    dv.version = 2;
    dv.descriptor = "d";
    const std::vector<spool::Record> second = {dv, Batch(7, 0x80, "c")};
    ASSERT_TRUE(held.Append(7, second).ok());
    ASSERT_TRUE(held.SyncAll().ok());
  }  // as after a crash: closed, left on disk
  HeldChanges held(root_ + "/snapshot", options_);
  auto on_disk = held.OnDisk();
  ASSERT_TRUE(on_disk.ok());
  ASSERT_EQ(on_disk->size(), 1u);
  EXPECT_EQ((*on_disk)[0].first, 7u);
  EXPECT_EQ((*on_disk)[0].second, Lsn{0x50});
  EXPECT_TRUE(held.Holds(7, 0x50));
  EXPECT_FALSE(held.Holds(7, 0x51));
  EXPECT_TRUE(std::filesystem::is_directory(root_ + "/snapshot/held-7-0000000000000050"));

  const Lsn durable_before = main->durable_lsn();
  ASSERT_TRUE(held.Open(7, 0x50).ok());
  ASSERT_TRUE(held.Replay(7, main.get(), 4 << 20, nullptr, nullptr).ok());
  EXPECT_FALSE(std::filesystem::exists(root_ + "/snapshot/held-7-0000000000000050"));
  EXPECT_FALSE(held.Holds(7, 0x50));
  // The main spool was already complete through the held changes: replay does not move it.
  EXPECT_EQ(main->durable_lsn(), durable_before);

  auto records = ReadAll(main.get());
  ASSERT_EQ(records.size(), 5u);
  std::vector<std::string> rows;
  for (const auto& r : records) {
    if (auto* b = std::get_if<spool::RowBatch>(&r)) {
      rows.push_back(b->rows);
      if (b->rows != "copy") {
        EXPECT_EQ(b->complete_through_lsn, kInvalidLsn);
      }
    } else {
      ASSERT_TRUE(std::holds_alternative<spool::DescriptorVersion>(r));
      rows.push_back("dv");
    }
  }
  EXPECT_EQ(rows, (std::vector<std::string>{"copy", "a", "b", "dv", "c"}));
}

TEST_F(HeldChangesTest, DiscardRemovesOnlyThatTablesSideSpools) {
  HeldChanges held(root_ + "/snapshot", options_);
  ASSERT_TRUE(held.Open(7, 0x50).ok());
  ASSERT_TRUE(held.Open(8, 0x50).ok());
  const std::vector<spool::Record> rows = {Batch(7, 0x60, "a")};
  ASSERT_TRUE(held.Append(7, rows).ok());
  ASSERT_TRUE(held.CloseAll().ok());
  // An older side spool of table 7 from an earlier run, too.
  std::filesystem::create_directories(root_ + "/snapshot/held-7-0000000000000010");
  std::filesystem::create_directories(root_ + "/snapshot/not-held");
  ASSERT_EQ(held.OnDisk()->size(), 3u);
  ASSERT_TRUE(held.Discard(7).ok());
  auto left = held.OnDisk();
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ((*left)[0].first, 8u);
  EXPECT_TRUE(std::filesystem::is_directory(root_ + "/snapshot/not-held"));
}

// What the metric and `pg2bq status` show: the bytes of the open side spools (live) and of
// every side spool on disk (per table), back to zero once replayed or discarded.
TEST_F(HeldChangesTest, BytesCountOpenSideSpoolsAndThoseOnDisk) {
  auto main = OpenMain();
  HeldChanges held(root_ + "/snapshot", options_);
  EXPECT_EQ(held.bytes(), 0u);
  ASSERT_TRUE(held.Open(7, 0x50).ok());
  ASSERT_TRUE(held.Open(8, 0x50).ok());
  const std::uint64_t empty = held.bytes();
  const std::vector<spool::Record> rows = {Batch(7, 0x60, std::string(10000, 'a'))};
  ASSERT_TRUE(held.Append(7, rows).ok());
  ASSERT_TRUE(held.SyncAll().ok());
  EXPECT_GT(held.bytes(), empty);

  auto on_disk = HeldChanges::BytesOnDisk(root_ + "/snapshot");
  ASSERT_TRUE(on_disk.ok()) << on_disk.status().ToString();
  ASSERT_EQ(on_disk->size(), 2u);
  std::map<std::uint32_t, std::uint64_t> by_table(on_disk->begin(), on_disk->end());
  EXPECT_GT(by_table[7], by_table[8]);
  EXPECT_GE(by_table[7] + by_table[8], held.bytes());

  ASSERT_TRUE(held.Replay(7, main.get(), 4 << 20, nullptr, nullptr).ok());
  ASSERT_TRUE(held.Discard(8).ok());
  EXPECT_EQ(held.bytes(), 0u);
  auto after = HeldChanges::BytesOnDisk(root_ + "/snapshot");
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_TRUE(after->empty());
  auto missing = HeldChanges::BytesOnDisk(root_ + "/no-such-dir");
  ASSERT_TRUE(missing.ok()) << missing.status().ToString();
  EXPECT_TRUE(missing->empty());
}

TEST_F(HeldChangesTest, AppendToATableNotHeldIsRefused) {
  HeldChanges held(root_ + "/snapshot", options_);
  const std::vector<spool::Record> rows = {Batch(9, 0x60, "a")};
  Status s = held.Append(9, rows);
  EXPECT_EQ(s.code(), Status::Code::kInternal) << s.ToString();
  ASSERT_TRUE(held.Open(9, 0x50).ok());
  EXPECT_EQ(held.Open(9, 0x40).code(), Status::Code::kInternal);
}

// A disk that cannot take the held changes (here: the file size limit, as a full disk would
// refuse a write) gives an error naming the side spool's directory.
TEST_F(HeldChangesTest, AWriteThatFailsNamesTheSideSpoolDirectory) {
  HeldChanges held(root_ + "/snapshot", options_);
  ASSERT_TRUE(held.Open(7, 0x50).ok());
  struct rlimit old_limit {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  struct sigaction ignore {
  }, old_action{};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGXFSZ, &ignore, &old_action), 0);
  struct rlimit small = old_limit;
  small.rlim_cur = 4096;  // the segment header fits, the rows do not
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string rows;
  for (int i = 0; rows.size() < 64 * 1024; ++i)
    rows += std::to_string(i * 7919) + ",";
  const std::vector<spool::Record> big = {Batch(7, 0x60, rows)};
  Status s = held.Append(7, big);
  if (s.ok()) s = held.SyncAll();
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  ::sigaction(SIGXFSZ, &old_action, nullptr);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.ToString().find(root_ + "/snapshot/held-7-0000000000000050"), std::string::npos)
      << s.ToString();
  (void)held.CloseAll();
}

}  // namespace
}  // namespace pg2bq::agent::snapshot
