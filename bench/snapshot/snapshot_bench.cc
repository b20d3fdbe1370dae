// snapshot_bench [rows] [workers]
//
// Loads a table of `rows` rows (bigint key, int, text, timestamptz, numeric, float8) into a
// fresh PostgreSQL 15, exports a snapshot from a temporary logical slot, then measures in
// the same run:
//   peer : COPY (SELECT ...) TO STDOUT (FORMAT binary), bytes discarded by the client
//          (what `psql -c "\copy ... to /dev/null"` costs, minus psql)
//   ours : CopyTable with `workers` parallel ctid-chunk connections -> binary COPY parse ->
//          RowEncoder -> spool (zstd, fsync=batch) on local disk
// and prints rows/s of each, the ratio ours/peer, and the process's peak RSS.
#include <libpq-fe.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "agent/pg_connection.h"
#include "agent/snapshot/source_table.h"
#include "agent/snapshot/table_snapshot.h"
#include "bench/support/bench_util.h"
#include "bench/support/copy_peer.h"
#include "spool/spool_writer.h"
#include "tests/support/pg_test_cluster.h"

using namespace pg2bq;
using namespace std::chrono_literals;

namespace {

int Fail(const Status& s) {
  std::fprintf(stderr, "snapshot_bench: %s\n", s.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const long rows = argc > 1 ? std::stol(argv[1]) : 1000000;
  const unsigned workers = argc > 2 ? static_cast<unsigned>(std::stoul(argv[2])) : 2;
  auto cluster = testing::PgTestCluster::Start();
  if (!cluster.ok()) return Fail(cluster.status());
  auto& pg = **cluster;
  std::printf("loading %ld rows...\n", rows);
  Status s = pg.Exec(
      "CREATE TABLE big (id bigint PRIMARY KEY, a int, b text, c timestamptz, d numeric, "
      "e float8);"
      "INSERT INTO big SELECT g, g % 1000, 'row number ' || g, "
      "TIMESTAMPTZ '2020-01-01 00:00:00+00' + g * INTERVAL '1 s', g * 1.5, g / 7.0 "
      "FROM generate_series(1, " +
      std::to_string(rows) + ") g;");
  if (s.ok()) s = pg.Exec("VACUUM ANALYZE big");
  if (!s.ok()) return Fail(s);

  agent::Cancellation cancel;
  auto repl = agent::PgConnection::Connect(pg.Dsn("postgres", "replication=database"),
                                           agent::ConnectionKind::kReplication, 30s, &cancel);
  if (!repl.ok()) return Fail(repl.status());
  auto slot = (*repl)->Exec(
      "CREATE_REPLICATION_SLOT bench TEMPORARY LOGICAL pgoutput "
      "EXPORT_SNAPSHOT",
      30s, &cancel);
  if (!slot.ok()) return Fail(slot.status());
  const Lsn lsn = ParseLsn(PQgetvalue(slot->get(), 0, 1)).value_or(0);
  const std::string snapshot = PQgetvalue(slot->get(), 0, 2);

  auto sql = agent::PgConnection::Connect(pg.Dsn(), agent::ConnectionKind::kNormal, 30s, &cancel);
  if (!sql.ok()) return Fail(sql.status());
  if (auto r = (*sql)->Exec("BEGIN ISOLATION LEVEL REPEATABLE READ", 30s, &cancel); !r.ok())
    return Fail(r.status());
  if (auto r = (*sql)->Exec("SET TRANSACTION SNAPSHOT '" + snapshot + "'", 30s, &cancel); !r.ok())
    return Fail(r.status());
  auto table = agent::snapshot::LoadSourceTable(sql->get(), "public", "big", 30s, &cancel);
  if (!table.ok()) return Fail(table.status());

  // Peer: one binary COPY, discarded, in the same snapshot.
  const auto peer = bench::DiscardCopyOut(
      (*sql)->raw(), "COPY (SELECT id, a, b, c, d, e FROM big) TO STDOUT (FORMAT binary)");

  // Ours.
  const std::string dir = pg.dir() + "/bench";
  agent::snapshot::SyncStateStore store(dir + "/state");
  if (auto st = store.Open(); !st.ok()) return Fail(st);
  spool::SpoolOptions so;
  so.dir = dir + "/spool";
  auto spool = spool::SpoolWriter::Open(so);
  if (!spool.ok()) return Fail(spool.status());
  auto descriptor = sink::BuildTableDescriptor(table->relation, {}, 1);
  if (!descriptor.ok()) return Fail(descriptor.status());
  agent::snapshot::TableSnapshotOptions opts;
  opts.dsn = pg.Dsn();
  opts.snapshot_name = snapshot;
  opts.snapshot_lsn = lsn;
  opts.workers = workers;
  opts.max_chunks = workers * 4;
  opts.progress_interval = 60s;
  const auto t0 = bench::Clock::now();
  auto result =
      agent::snapshot::CopyTable(opts, *table, *descriptor, &store, spool->get(), &cancel);
  if (!result.ok()) return Fail(result.status());
  const double ours_s = bench::SecsSince(t0);

  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("rows: %ld, COPY binary bytes: %.1f MiB, table pages: %llu\n", rows,
              static_cast<double>(peer.bytes) / (1 << 20),
              static_cast<unsigned long long>(table->relpages));
  std::printf("peer  COPY binary -> discard (1 conn): %7.2f s  %10.0f rows/s\n", peer.seconds,
              static_cast<double>(rows) / peer.seconds);
  std::printf("ours  CopyTable -> spool (%u workers): %7.2f s  %10.0f rows/s  (%llu rows)\n",
              workers, ours_s, static_cast<double>(result->rows) / ours_s,
              static_cast<unsigned long long>(result->rows));
  std::printf("ratio ours/peer (throughput): %.2f\n", peer.seconds / ours_s);
  std::printf("peak RSS (whole process): %.1f MiB\n", static_cast<double>(ru.ru_maxrss) / 1024.0);
  return result->rows == static_cast<std::uint64_t>(rows) ? 0 : 1;
}
