// TableSync::Bootstrap at a restart (the slot exists) with side spools an earlier run left:
// a run that died after a table's copy was in the spool but before the reader moved the
// table's held changes behind it. Those changes are replayed behind the copy; side spools of
// a table copied again since (another hold_from) or without a sync state are discarded.
// The run_snapshot tests cannot reach this state on purpose: a table is released within
// one received batch of its copy's end.
#include "agent/snapshot/table_sync.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "agent/metrics.h"
#include "agent/pipeline/descriptor_store.h"
#include "agent/pipeline/pipeline_metrics.h"
#include "agent/snapshot/held_changes.h"
#include "agent/snapshot/sync_state.h"
#include "sink/dead_letter.h"
#include "spool/spool_reader.h"
#include "spool/spool_writer.h"
#include "tests/support/pg_test_cluster.h"

namespace pg2bq::agent::snapshot {
namespace {

using namespace std::chrono_literals;

spool::RowBatch Held(std::uint32_t table, Lsn commit, const std::string& rows) {
  spool::RowBatch b;
  b.table_id = table;
  b.descriptor_version = 1;
  b.row_count = 1;
  b.first_commit_lsn = b.last_commit_lsn = b.complete_through_lsn = commit;
  b.rows = rows;
  return b;
}

TEST(TableSyncRestartTest, HeldChangesOfAFinishedCopyAreReplayedBehindItOthersDiscarded) {
  auto cluster = testing::PgTestCluster::Start();
  ASSERT_TRUE(cluster.ok()) << cluster.status().ToString();
  auto& pg = **cluster;
  Status created = pg.Exec(
      "CREATE TABLE copied (id bigint PRIMARY KEY);"
      "CREATE TABLE recopied (id bigint PRIMARY KEY);"
      "CREATE TABLE unknown (id bigint PRIMARY KEY);"
      "CREATE PUBLICATION p FOR TABLE copied, recopied, unknown");
  ASSERT_TRUE(created.ok()) << created.ToString();
  // Its own transaction: a slot cannot be created in one that wrote.
  created = pg.Exec("SELECT pg_create_logical_replication_slot('s', 'pgoutput')");
  ASSERT_TRUE(created.ok()) << created.ToString();
  auto oid = [&](const char* table) {
    auto v = pg.QueryValue(std::string("SELECT '") + table + "'::regclass::oid");
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? static_cast<std::uint32_t>(std::stoul(*v)) : 0u;
  };
  const std::uint32_t copied = oid("copied"), recopied = oid("recopied"), unknown = oid("unknown");
  const std::string state_dir = pg.dir() + "/state";
  const std::string snapshot_dir = state_dir + "/snapshot";

  // What the earlier run left: `copied` finished its copy from 0/5000 (its end marker is in
  // the main spool), `recopied` was copied again from 0/9000 after changes from 0/5000 were
  // held, and `unknown` has held changes but no sync state.
  SyncStateStore states(snapshot_dir);
  ASSERT_TRUE(states.Open().ok());
  for (auto [table, name, phase, hold_from] :
       {std::tuple{copied, "copied", SyncPhase::kCopied, Lsn{0x5000}},
        std::tuple{recopied, "recopied", SyncPhase::kReady, Lsn{0x9000}}}) {
    TableSyncState st;
    st.relation_oid = table;
    st.schema = "public";
    st.table = name;
    st.phase = phase;
    st.hold_from_lsn = hold_from;
    ASSERT_TRUE(states.Save(st).ok());
  }
  spool::SpoolOptions so;
  so.dir = state_dir + "/spool";
  so.fsync = spool::FsyncPolicy::kAlways;
  so.segment_bytes = 1 << 20;
  {
    HeldChanges held(snapshot_dir, so);
    for (auto [table, hold_from] :
         {std::pair{copied, Lsn{0x5000}}, std::pair{recopied, Lsn{0x5000}},
          std::pair{unknown, Lsn{0x5000}}}) {
      ASSERT_TRUE(held.Open(table, hold_from).ok());
      const std::vector<spool::Record> records = {Held(table, 0x6000, "first"),
                                                  Held(table, 0x7000, "second")};
      ASSERT_TRUE(held.Append(table, records).ok());
    }
    ASSERT_TRUE(held.SyncAll().ok());
    ASSERT_TRUE(held.CloseAll().ok());
  }

  auto main = spool::SpoolWriter::Open(so);
  ASSERT_TRUE(main.ok()) << main.status().ToString();
  pipeline::DescriptorStore descriptors(state_dir + "/descriptors", {});
  ASSERT_TRUE(descriptors.Load().ok());
  sink::DeadLetterWriter dead_letters(state_dir + "/dead_letters.jsonl");
  MetricsRegistry registry;
  auto metrics = pipeline::PipelineMetrics::Register(&registry);
  ASSERT_TRUE(metrics.ok()) << metrics.status().ToString();
  Cancellation cancel;
  TableSyncOptions options;
  options.dsn = pg.Dsn();
  options.slot = "s";
  options.publication = "p";
  options.held_dir = snapshot_dir;
  options.timeout = 30s;
  options.copy = false;  // snapshot.initial = skip: `unknown` is not copied now
  {
    TableSync sync(options, &states, &descriptors, main->get(), &dead_letters, &*metrics, &cancel);
    auto holds = sync.Bootstrap();
    ASSERT_TRUE(holds.ok()) << holds.status().ToString();
    EXPECT_TRUE(holds->empty());  // nothing to copy, nothing held
    sync.Stop();
  }

  // Only `copied`'s held changes reached the main spool, in order, without their completion
  // LSN (the main spool is already complete through them).
  auto reader = spool::SpoolReader::Open(so.dir, (*main)->start_position(), (*main)->tail());
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  std::vector<std::string> replayed;
  while (true) {
    auto next = (*reader)->Next();
    ASSERT_TRUE(next.ok()) << next.status().ToString();
    if (!next->has_value()) break;
    const auto* rb = std::get_if<spool::RowBatch>(&(*next)->record);
    if (rb == nullptr || rb->table_id != copied) continue;
    EXPECT_EQ(rb->complete_through_lsn, kInvalidLsn);
    replayed.push_back(rb->rows);
  }
  EXPECT_EQ(replayed, (std::vector<std::string>{"first", "second"}));
  // Every side spool is gone: replayed (`copied`) or discarded.
  HeldChanges after(snapshot_dir, so);
  auto on_disk = after.OnDisk();
  ASSERT_TRUE(on_disk.ok()) << on_disk.status().ToString();
  EXPECT_TRUE(on_disk->empty());
}

}  // namespace
}  // namespace pg2bq::agent::snapshot
