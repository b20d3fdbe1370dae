// TableCopier against a real PostgreSQL 15: a table with many mapped types is copied in
// parallel ctid chunks inside a slot's exported snapshot; the spool must then hold exactly
// the rows visible in that snapshot (not rows committed after it), each encoded exactly as
// the same row read in text form and encoded by the same RowEncoder.
#include "agent/snapshot/table_copier.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <algorithm>
#include <filesystem>
#include <thread>

#include "agent/pg_connection.h"
#include "agent/snapshot/source_table.h"
#include "agent/snapshot/table_snapshot.h"
#include "common/lsn.h"
#include "sink/row_encoder.h"
#include "spool/spool_reader.h"
#include "spool/spool_writer.h"
#include "tests/support/pg_test_cluster.h"

namespace pg2bq::agent::snapshot {
namespace {

using namespace std::chrono_literals;

constexpr const char* kSchema = R"sql(
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
CREATE TABLE public.every_type (
  id bigint PRIMARY KEY, s smallint, i integer, n numeric(20,5), nf numeric,
  r real, d double precision, b boolean, t text, vc varchar(20), ch char(3), by bytea,
  dt date, ts timestamp, tstz timestamptz, tm time, iv interval, u uuid,
  j json, jb jsonb, ia integer[], ta text[], m mood, p posint, pad text
);
INSERT INTO every_type
SELECT g, (g % 30000)::smallint, g * 7, g * 1.25, g / 3.0,
       g / 7.0, g / 3.0, g % 2 = 0, 'text ' || g, 'vc' || g, 'abc', decode(md5(g::text), 'hex'),
       DATE '2020-01-01' + g, TIMESTAMP '2020-01-01 00:00:00' + g * INTERVAL '1 minute',
       TIMESTAMPTZ '2020-01-01 00:00:00+00' + g * INTERVAL '1 second', TIME '01:02:03' + g * INTERVAL '1 s',
       g * INTERVAL '1 hour 2 minutes', md5(g::text)::uuid, json_build_object('g', g),
       jsonb_build_object('g', g, 'a', ARRAY[1,2]), ARRAY[g, g + 1], ARRAY['x' || g, '', 'y'],
       (ARRAY['sad','ok','happy']::mood[])[1 + g % 3], 1 + g % 100,
       CASE WHEN g % 50 = 0 THEN repeat('z', 5000) ELSE NULL END
FROM generate_series(1, 3000) g;
UPDATE every_type SET t = NULL, by = NULL, ia = NULL, ts = NULL WHERE id % 17 = 0;
)sql";

class TableCopierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cluster = testing::PgTestCluster::Start();
    ASSERT_TRUE(cluster.ok()) << cluster.status().ToString();
    cluster_ = std::move(*cluster);
    ASSERT_TRUE(cluster_->Exec(kSchema).ok());
    spool_dir_ = cluster_->dir() + "/spool";
  }

  std::unique_ptr<testing::PgTestCluster> cluster_;
  std::string spool_dir_;
  Cancellation cancel_;
};

// Row messages of every RowBatch in the spool.
std::vector<std::string> SpooledRows(const std::string& dir, Lsn* seen_lsn) {
  std::vector<std::string> out;
  auto reader = spool::SpoolReader::Open(dir, {}, nullptr);
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  if (!reader.ok()) return out;
  while (true) {
    auto e = (*reader)->Next();
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    if (!e.ok() || !e->has_value()) break;
    const auto* rb = std::get_if<spool::RowBatch>(&(*e)->record);
    if (rb == nullptr) continue;
    *seen_lsn = rb->first_commit_lsn;
    EXPECT_EQ(rb->complete_through_lsn, kInvalidLsn);
    sink::EncodedBatch batch;
    batch.proto_rows = rb->rows;
    // Walk the ProtoRows entries: tag 0x0A, varint length, message.
    std::size_t pos = 0;
    while (pos < batch.proto_rows.size()) {
      EXPECT_EQ(batch.proto_rows[pos], '\x0A');
      ++pos;
      std::uint64_t len = 0;
      int shift = 0;
      while (true) {
        const auto byte = static_cast<std::uint8_t>(batch.proto_rows[pos++]);
        len |= std::uint64_t{byte & 0x7Fu} << shift;
        if ((byte & 0x80) == 0) break;
        shift += 7;
      }
      out.push_back(batch.proto_rows.substr(pos, len));
      pos += len;
    }
  }
  return out;
}

TEST_F(TableCopierTest, ParallelChunksCopyExactlyTheSnapshot) {
  auto repl = PgConnection::Connect(cluster_->Dsn("postgres", "replication=database"),
                                    ConnectionKind::kReplication, 30s, &cancel_);
  ASSERT_TRUE(repl.ok()) << repl.status().ToString();
  auto slot = (*repl)->Exec(
      "CREATE_REPLICATION_SLOT snap_test TEMPORARY LOGICAL pgoutput "
      "EXPORT_SNAPSHOT",
      30s, &cancel_);
  ASSERT_TRUE(slot.ok()) << slot.status().ToString();
  const std::string consistent_point = PQgetvalue(slot->get(), 0, 1);
  const std::string snapshot_name = PQgetvalue(slot->get(), 0, 2);
  auto lsn = ParseLsn(consistent_point);
  ASSERT_TRUE(lsn.has_value()) << consistent_point;

  // Changes after the snapshot: none of them may be copied.
  ASSERT_TRUE(cluster_
                  ->Exec("INSERT INTO every_type (id, t) VALUES (100001, 'late');"
                         "UPDATE every_type SET t = 'changed' WHERE id = 5;"
                         "DELETE FROM every_type WHERE id = 6;")
                  .ok());

  auto sql = PgConnection::Connect(cluster_->Dsn(), ConnectionKind::kNormal, 30s, &cancel_);
  ASSERT_TRUE(sql.ok());
  ASSERT_TRUE((*sql)->Exec("BEGIN ISOLATION LEVEL REPEATABLE READ", 30s, &cancel_).ok());
  ASSERT_TRUE((*sql)->Exec("SET TRANSACTION SNAPSHOT '" + snapshot_name + "'", 30s, &cancel_).ok());
  auto table = LoadSourceTable(sql->get(), "public", "every_type", 30s, &cancel_);
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  ASSERT_EQ(table->relation.columns.size(), 25u);
  EXPECT_TRUE(table->relation.columns[0].is_key);
  EXPECT_FALSE(table->relation.columns[1].is_key);
  EXPECT_TRUE(table->relation.columns[22].is_enum);
  EXPECT_NE(table->relation.columns[23].base_type_oid, 0u);
  ASSERT_GT(table->relpages, 4u);

  auto descriptor = sink::BuildTableDescriptor(table->relation, {}, 1);
  ASSERT_TRUE(descriptor.ok()) << descriptor.status().ToString();

  spool::SpoolOptions so;
  so.dir = spool_dir_;
  auto spool = spool::SpoolWriter::Open(so);
  ASSERT_TRUE(spool.ok()) << spool.status().ToString();

  TableCopierOptions opts;
  opts.dsn = cluster_->Dsn();
  opts.snapshot_name = snapshot_name;
  opts.snapshot_lsn = *lsn;
  opts.relation = table->relation;
  opts.descriptor = *descriptor;
  opts.batch_max_bytes = 64 << 10;  // several batches per chunk
  TableCopier copier(opts, spool->get(), &cancel_);
  const auto chunks = PlanChunks(table->relpages, 3);
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks.back().end_page, 0u);
  CopyProgress progress;
  std::vector<Status> results(chunks.size());
  std::vector<std::thread> workers;
  for (std::size_t i = 0; i < chunks.size(); ++i)
    workers.emplace_back([&, i] { results[i] = copier.CopyChunk(chunks[i], &progress); });
  for (auto& w : workers)
    w.join();
  for (const auto& s : results)
    ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_TRUE((*spool)->Sync().ok());
  EXPECT_EQ(progress.rows.load(), 3000u);
  EXPECT_EQ(progress.rejected.load(), 0u);
  EXPECT_GT(progress.bytes.load(), 0u);

  // The same snapshot read in text form and encoded by the same encoder.
  auto text = (*sql)->Exec("SELECT * FROM every_type", 30s, &cancel_);
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  ASSERT_EQ(PQntuples(text->get()), 3000);
  sink::RowEncoder encoder(*descriptor, {});
  sink::EncodedBatch expected_batch;
  std::vector<sink::SourceValue> values(25);
  for (int r = 0; r < PQntuples(text->get()); ++r) {
    for (int c = 0; c < 25; ++c) {
      values[c] = PQgetisnull(text->get(), r, c)
                      ? sink::SourceValue::Null()
                      : sink::SourceValue::Text(PQgetvalue(text->get(), r, c));
    }
    sink::SourceChange change;
    change.kind = sink::ChangeKind::kInsert;
    change.commit_lsn = *lsn - 1;
    change.new_values = values;
    auto res = encoder.Encode(change, &expected_batch);
    ASSERT_EQ(res.outcome, sink::EncodeResult::Outcome::kEncoded) << res.reason;
  }
  std::vector<std::string> expected;
  for (std::size_t i = 0; i < expected_batch.rows.size(); ++i)
    expected.emplace_back(expected_batch.RowMessage(i));

  Lsn seen = 0;
  auto copied = SpooledRows(spool_dir_, &seen);
  EXPECT_EQ(seen, *lsn - 1);
  ASSERT_EQ(copied.size(), expected.size());
  std::sort(copied.begin(), copied.end());
  std::sort(expected.begin(), expected.end());
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < copied.size(); ++i)
    mismatches += copied[i] != expected[i];
  EXPECT_EQ(mismatches, 0u) << "binary-copied rows differ from text-encoded rows";
}

TEST_F(TableCopierTest, UnknownSnapshotIsAClearError) {
  auto sql = PgConnection::Connect(cluster_->Dsn(), ConnectionKind::kNormal, 30s, &cancel_);
  ASSERT_TRUE(sql.ok());
  auto table = LoadSourceTable(sql->get(), "public", "every_type", 30s, &cancel_);
  ASSERT_TRUE(table.ok());
  auto descriptor = sink::BuildTableDescriptor(table->relation, {}, 1);
  ASSERT_TRUE(descriptor.ok());
  spool::SpoolOptions so;
  so.dir = spool_dir_;
  auto spool = spool::SpoolWriter::Open(so);
  ASSERT_TRUE(spool.ok());
  TableCopierOptions opts;
  opts.dsn = cluster_->Dsn();
  opts.snapshot_name = "00000003-00000002-1";
  opts.snapshot_lsn = 0x1000000;
  opts.relation = table->relation;
  opts.descriptor = *descriptor;
  TableCopier copier(opts, spool->get(), &cancel_);
  CopyProgress progress;
  Status s = copier.CopyChunk({0, 0}, &progress);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.ToString().find("every_type"), std::string::npos) << s.ToString();
  EXPECT_NE(s.ToString().find("snapshot"), std::string::npos) << s.ToString();
}

// An exported snapshot held open by a replication connection (a temporary slot).
struct ExportedSnapshot {
  std::unique_ptr<PgConnection> conn;
  std::string name;
  Lsn lsn = 0;
};
ExportedSnapshot Export(const testing::PgTestCluster& cluster, const std::string& slot,
                        const Cancellation* cancel) {
  ExportedSnapshot out;
  auto repl = PgConnection::Connect(cluster.Dsn("postgres", "replication=database"),
                                    ConnectionKind::kReplication, 30s, cancel);
  EXPECT_TRUE(repl.ok()) << repl.status().ToString();
  if (!repl.ok()) return out;
  auto r = (*repl)->Exec(
      "CREATE_REPLICATION_SLOT " + slot + " TEMPORARY LOGICAL pgoutput EXPORT_SNAPSHOT", 30s,
      cancel);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return out;
  out.lsn = ParseLsn(PQgetvalue(r->get(), 0, 1)).value_or(0);
  out.name = PQgetvalue(r->get(), 0, 2);
  out.conn = std::move(*repl);
  return out;
}

Result<SourceTable> LoadIn(const testing::PgTestCluster& cluster, const std::string& snapshot,
                           const Cancellation* cancel) {
  PG2BQ_ASSIGN_OR_RETURN(
      auto sql, PgConnection::Connect(cluster.Dsn(), ConnectionKind::kNormal, 30s, cancel));
  PG2BQ_RETURN_IF_ERROR(sql->Exec("BEGIN ISOLATION LEVEL REPEATABLE READ", 30s, cancel).status());
  PG2BQ_RETURN_IF_ERROR(
      sql->Exec("SET TRANSACTION SNAPSHOT '" + snapshot + "'", 30s, cancel).status());
  return LoadSourceTable(sql.get(), "public", "every_type", 30s, cancel);
}

TEST_F(TableCopierTest, InterruptedCopyResumesPerChunkAndIsNotRepeated) {
  SyncStateStore store(cluster_->dir() + "/state/snapshot");
  ASSERT_TRUE(store.Open().ok());
  spool::SpoolOptions so;
  so.dir = spool_dir_;
  auto spool = spool::SpoolWriter::Open(so);
  ASSERT_TRUE(spool.ok());

  TableSnapshotOptions opts;
  opts.dsn = cluster_->Dsn();
  opts.workers = 1;
  opts.min_chunk_pages = 10;
  opts.max_chunks = 8;
  opts.stop_after_chunks = 2;
  opts.progress_interval = 100ms;

  // First run: "killed" after two chunks.
  std::uint32_t relfilenode = 0;
  std::size_t chunks = 0;
  Lsn first_lsn = 0;
  {
    auto snap = Export(*cluster_, "snap_a", &cancel_);
    ASSERT_TRUE(snap.conn);
    first_lsn = snap.lsn;
    auto table = LoadIn(*cluster_, snap.name, &cancel_);
    ASSERT_TRUE(table.ok()) << table.status().ToString();
    relfilenode = table->relfilenode;
    auto descriptor = sink::BuildTableDescriptor(table->relation, {}, 1);
    ASSERT_TRUE(descriptor.ok());
    opts.snapshot_name = snap.name;
    opts.snapshot_lsn = snap.lsn;
    auto r = CopyTable(opts, *table, *descriptor, &store, spool->get(), &cancel_);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Status::Code::kAborted) << r.status().ToString();
    auto state = store.Load(table->relation.oid);
    ASSERT_TRUE(state.ok()) << state.status().ToString();
    EXPECT_EQ(state->phase, SyncPhase::kCopying);
    chunks = state->chunks.size();
    ASSERT_GE(chunks, 4u);
    EXPECT_EQ(state->ChunksDone(), 2u);
    EXPECT_EQ(state->hold_from_lsn, snap.lsn);
  }
  // Writes between the two snapshots (the stream would carry them).
  ASSERT_TRUE(cluster_->Exec("UPDATE every_type SET t = 'between' WHERE id % 100 = 1").ok());
  // Second run, at a newer snapshot: only the remaining chunks are copied.
  {
    auto snap = Export(*cluster_, "snap_b", &cancel_);
    ASSERT_TRUE(snap.conn);
    ASSERT_GT(snap.lsn, first_lsn);
    auto table = LoadIn(*cluster_, snap.name, &cancel_);
    ASSERT_TRUE(table.ok());
    EXPECT_EQ(table->relfilenode, relfilenode);
    auto descriptor = sink::BuildTableDescriptor(table->relation, {}, 1);
    ASSERT_TRUE(descriptor.ok());
    opts.snapshot_name = snap.name;
    opts.snapshot_lsn = snap.lsn;
    opts.stop_after_chunks = 0;
    opts.workers = 3;
    auto r = CopyTable(opts, *table, *descriptor, &store, spool->get(), &cancel_);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_FALSE(r->skipped);
    EXPECT_EQ(r->chunks_copied, chunks - 2);
    auto state = store.Load(table->relation.oid);
    ASSERT_TRUE(state.ok());
    EXPECT_EQ(state->phase, SyncPhase::kCopied);
    EXPECT_EQ(state->RowsCopied(), 3000u);
    // Changes to apply after the copy start at the OLDER snapshot.
    EXPECT_EQ(state->hold_from_lsn, first_lsn);
    // Third run: nothing to do.
    auto again = CopyTable(opts, *table, *descriptor, &store, spool->get(), &cancel_);
    ASSERT_TRUE(again.ok());
    EXPECT_TRUE(again->skipped);
  }
  ASSERT_TRUE((*spool)->Sync().ok());
  Lsn seen = 0;
  // Every row exactly once: no chunk copied twice, none skipped.
  EXPECT_EQ(SpooledRows(spool_dir_, &seen).size(), 3000u);
}

TEST_F(TableCopierTest, RewrittenTableIsCopiedAgainInFull) {
  SyncStateStore store(cluster_->dir() + "/state/snapshot");
  ASSERT_TRUE(store.Open().ok());
  spool::SpoolOptions so;
  so.dir = spool_dir_;
  auto spool = spool::SpoolWriter::Open(so);
  ASSERT_TRUE(spool.ok());
  TableSnapshotOptions opts;
  opts.dsn = cluster_->Dsn();
  opts.workers = 1;
  opts.min_chunk_pages = 10;
  opts.stop_after_chunks = 1;
  for (int run = 0; run < 2; ++run) {
    if (run == 1) {
      ASSERT_TRUE(cluster_->Exec("VACUUM FULL every_type").ok());
    }
    auto snap = Export(*cluster_, "snap_" + std::to_string(run), &cancel_);
    ASSERT_TRUE(snap.conn);
    auto table = LoadIn(*cluster_, snap.name, &cancel_);
    ASSERT_TRUE(table.ok());
    auto descriptor = sink::BuildTableDescriptor(table->relation, {}, 1);
    ASSERT_TRUE(descriptor.ok());
    opts.snapshot_name = snap.name;
    opts.snapshot_lsn = snap.lsn;
    if (run == 1) opts.stop_after_chunks = 0;
    auto r = CopyTable(opts, *table, *descriptor, &store, spool->get(), &cancel_);
    if (run == 0) {
      ASSERT_FALSE(r.ok());
    } else {
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      auto state = store.Load(table->relation.oid);
      ASSERT_TRUE(state.ok());
      EXPECT_EQ(state->relfilenode, table->relfilenode);
      EXPECT_EQ(r->chunks_copied, state->chunks.size());  // all of them again
      EXPECT_EQ(r->rows, 3000u);
    }
  }
}

TEST_F(TableCopierTest, TableWithoutKeyIsCopiedInChangeLogModeWithDuplicates) {
  ASSERT_TRUE(
      cluster_
          ->Exec("CREATE TABLE nokey (a int, b text);"
                 "INSERT INTO nokey SELECT g % 500, 'same' FROM generate_series(1, 4000) g;")
          .ok());
  auto snap = Export(*cluster_, "snap_nokey", &cancel_);
  ASSERT_TRUE(snap.conn);
  ASSERT_TRUE(cluster_->Exec("INSERT INTO nokey VALUES (1, 'after')").ok());
  auto sql = PgConnection::Connect(cluster_->Dsn(), ConnectionKind::kNormal, 30s, &cancel_);
  ASSERT_TRUE(sql.ok());
  ASSERT_TRUE((*sql)->Exec("BEGIN ISOLATION LEVEL REPEATABLE READ", 30s, &cancel_).ok());
  ASSERT_TRUE((*sql)->Exec("SET TRANSACTION SNAPSHOT '" + snap.name + "'", 30s, &cancel_).ok());
  auto table = LoadSourceTable(sql->get(), "public", "nokey", 30s, &cancel_);
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  EXPECT_FALSE(table->relation.HasKey());
  auto descriptor = sink::BuildTableDescriptor(table->relation, {}, 1);
  ASSERT_TRUE(descriptor.ok()) << descriptor.status().ToString();
  EXPECT_EQ((*descriptor)->mode, sink::WriteMode::kChangeLog);

  SyncStateStore store(cluster_->dir() + "/state/snapshot");
  ASSERT_TRUE(store.Open().ok());
  spool::SpoolOptions so;
  so.dir = spool_dir_;
  auto spool = spool::SpoolWriter::Open(so);
  ASSERT_TRUE(spool.ok());
  TableSnapshotOptions opts;
  opts.dsn = cluster_->Dsn();
  opts.snapshot_name = snap.name;
  opts.snapshot_lsn = snap.lsn;
  opts.workers = 2;
  opts.min_chunk_pages = 5;
  auto r = CopyTable(opts, *table, *descriptor, &store, spool->get(), &cancel_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rows, 4000u);  // every duplicate, not the row inserted after the snapshot
  EXPECT_EQ(r->rejected, 0u);
  ASSERT_TRUE((*spool)->Sync().ok());
  Lsn seen = 0;
  EXPECT_EQ(SpooledRows(spool_dir_, &seen).size(), 4000u);
}

TEST_F(TableCopierTest, UnrepresentableRowsAreDeadLetteredOrFailTheCopy) {
  ASSERT_TRUE(cluster_
                  ->Exec("CREATE TABLE nan (id int PRIMARY KEY, n numeric);"
                         "INSERT INTO nan SELECT g, CASE WHEN g = 7 THEN 'NaN'::numeric ELSE g END "
                         "FROM generate_series(1, 100) g;")
                  .ok());
  auto snap = Export(*cluster_, "snap_nan", &cancel_);
  ASSERT_TRUE(snap.conn);
  auto sql = PgConnection::Connect(cluster_->Dsn(), ConnectionKind::kNormal, 30s, &cancel_);
  ASSERT_TRUE(sql.ok());
  auto table = LoadSourceTable(sql->get(), "public", "nan", 30s, &cancel_);
  ASSERT_TRUE(table.ok());
  auto descriptor = sink::BuildTableDescriptor(table->relation, {}, 1);
  ASSERT_TRUE(descriptor.ok());
  spool::SpoolOptions so;
  so.dir = spool_dir_;
  auto spool = spool::SpoolWriter::Open(so);
  ASSERT_TRUE(spool.ok());
  TableCopierOptions opts;
  opts.dsn = cluster_->Dsn();
  opts.snapshot_name = snap.name;
  opts.snapshot_lsn = snap.lsn;
  opts.relation = table->relation;
  opts.descriptor = *descriptor;
  {
    TableCopier copier(opts, spool->get(), &cancel_);
    CopyProgress progress;
    Status s = copier.CopyChunk({0, 0}, &progress);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.ToString().find("NaN"), std::string::npos) << s.ToString();
  }
  const std::string path = cluster_->dir() + "/dead_letters.jsonl";
  sink::DeadLetterWriter dead(path);
  opts.dead_letters = &dead;
  TableCopier copier(opts, spool->get(), &cancel_);
  CopyProgress progress;
  Status s = copier.CopyChunk({0, 0}, &progress);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(progress.rows.load(), 99u);
  EXPECT_EQ(progress.rejected.load(), 1u);
  EXPECT_EQ(dead.count(), 1u);
  EXPECT_TRUE(std::filesystem::exists(path));
}

TEST(SyncState, JsonRoundTripAndCorruption) {
  TableSyncState s;
  s.relation_oid = 16390;
  s.schema = "public";
  s.table = "t \"quoted\"";
  s.phase = SyncPhase::kCopying;
  s.relfilenode = 16391;
  s.hold_from_lsn = 0x1234ABCDull;
  s.chunks = {{{0, 10}, true, 77}, {{10, 0}, false, 0}};
  auto back = TableSyncState::FromJson(s.ToJson());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->ToJson(), s.ToJson());
  EXPECT_EQ(back->RowsCopied(), 77u);
  EXPECT_EQ(back->ChunksDone(), 1u);
  EXPECT_FALSE(TableSyncState::FromJson("{").ok());
  std::string bad = s.ToJson();
  bad.replace(bad.find("copying"), 7, "copyinX");
  auto r = TableSyncState::FromJson(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsCorruption());
}

}  // namespace
}  // namespace pg2bq::agent::snapshot
