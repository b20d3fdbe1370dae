// run_snapshot_bench [rows] [workers] [spool.compression_level]
//
// The snapshot benchmark, end to end: a table of `rows` rows (bigint key, int, text,
// timestamptz, numeric, float8) in a fresh PostgreSQL 15, then in the same run:
//   peer : COPY (SELECT ...) TO STDOUT (FORMAT binary) on one connection, bytes discarded by
//          the client (`psql -c "\copy ... to /dev/null"` minus psql)
//   ours : `pg2bq run` first start against bq-emulator --no-storage: slot with an exported
//          snapshot, `workers` chunk connections, binary COPY parse -> row encoder -> spool
//          (zstd, fsync=batch) -> flusher -> AppendRows; timed from the agent's start until
//          the emulator has acknowledged every row
// and prints rows/s of each, the throughput ratio ours/peer, and the agent's CPU and peak RSS.
#include <httplib.h>
#include <libpq-fe.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "bench/support/child_process.h"
#include "bench/support/copy_peer.h"
#include "tests/bq_emulator/emulator_process.h"
#include "tests/support/pg_test_cluster.h"

namespace {

using pg2bq::bench::Check;
using pg2bq::bench::Clock;
using pg2bq::bench::Die;
using pg2bq::bench::Secs;
using namespace std::chrono_literals;
using pg2bq::testing::PgTestCluster;

long long RowsAppended(int http_port) {
  httplib::Client c("127.0.0.1", http_port);
  auto r = c.Get("/admin/stats");
  if (!r || r->status != 200) return -1;
  return nlohmann::json::parse(r->body).value("rows_appended", -1LL);
}

}  // namespace

int main(int argc, char** argv) {
  const long rows = argc > 1 ? std::stol(argv[1]) : 5000000;
  const int workers = argc > 2 ? std::stoi(argv[2]) : 2;
  // Unset: the agent's default.
  const std::string compression_level = argc > 3 ? argv[3] : "";
  pg2bq::bqemu::TempDir dir;
  auto started = PgTestCluster::Start(
      {.settings = {
           {"autovacuum", "off"}, {"shared_buffers", "'512MB'"}, {"max_wal_size", "'4GB'"}}});
  if (!started.ok()) Die(started.status().ToString());
  auto& pg = **started;
  auto emulator =
      std::make_unique<pg2bq::bqemu::EmulatorProcess>(BQ_EMULATOR_BINARY, dir.path() + "/bq");
  Check(emulator->Start({"--no-storage"}), "bq-emulator");

  std::printf("loading %ld rows...\n", rows);
  std::fflush(stdout);
  Check(pg.Exec("CREATE TABLE big (id bigint PRIMARY KEY, a int, b text, c timestamptz, "
                "d numeric, e float8);"
                "INSERT INTO big SELECT g, g % 1000, 'row number ' || g, "
                "TIMESTAMPTZ '2020-01-01 00:00:00+00' + g * INTERVAL '1 s', g * 1.5, g / 7.0 "
                "FROM generate_series(1, " +
                std::to_string(rows) + ") g;"),
        "load");
  Check(pg.Exec("VACUUM ANALYZE big"), "vacuum");
  Check(pg.Exec("CREATE PUBLICATION bench FOR TABLE big"), "publication");
  const std::string dsn = "host=127.0.0.1 port=" + std::to_string(pg.port()) +
                          " user=postgres dbname=postgres password=" + PgTestCluster::kPassword;

  // Peer: one binary COPY, discarded.
  PGconn* c = PQconnectdb(dsn.c_str());
  if (PQstatus(c) != CONNECTION_OK) Die(PQerrorMessage(c));
  const auto peer = pg2bq::bench::DiscardCopyOut(
      c, "COPY (SELECT id, a, b, c, d, e FROM big) TO STDOUT (FORMAT binary)");
  PQfinish(c);

  // Ours: pg2bq run's first start.
  const std::string config = dir.path() + "/pg2bq.conf";
  {
    std::ofstream f(config);
    f << "[source]\nhost = 127.0.0.1\nport = " << pg.port()
      << "\ndbname = postgres\nuser = postgres\npassword = " << PgTestCluster::kPassword << "\n"
      << "[replication]\nslot = bench\npublication = bench\n"
      << "[target]\nproject = proj\ndataset = bench\ninsecure = true\n"
      << "grpc_endpoint = " << emulator->grpc_target() << "\n"
      << "rest_endpoint = http://127.0.0.1:" << emulator->http_port() << "\n"
      << "[spool]\nfsync = batch\n"
      << (compression_level.empty() ? "" : "compression_level = " + compression_level + "\n")
      << "[snapshot]\nworkers = " << workers << "\n"
      << "[agent]\nstate_dir = " << dir.path() << "/state\nmetrics_address = \n";
  }
  std::filesystem::permissions(
      config, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  const auto agent =
      pg2bq::bench::Spawn({PG2BQ_BINARY, "run", "--config", config}, dir.path() + "/agent.log");
  const auto& log = agent.log;
  const auto t0 = agent.start;
  const pid_t pid = agent.pid;
  const auto deadline = t0 + std::chrono::seconds(1200);
  while (RowsAppended(emulator->http_port()) < rows) {
    if (Clock::now() > deadline) Die("timed out; agent log " + log);
    if (waitpid(pid, nullptr, WNOHANG) == pid) Die("the agent exited; log " + log);
    std::this_thread::sleep_for(5ms);
  }
  const double ours_s = Secs(t0, Clock::now());
  kill(pid, SIGTERM);
  const auto agent_run = pg2bq::bench::Reap(agent, /*must_succeed=*/false);
  {
    // Where the time went (the agent's own log lines about the copy).
    std::ifstream in(log);
    for (std::string line; std::getline(in, line);)
      if (line.find("snapshot") != std::string::npos || line.find("slot") != std::string::npos ||
          line.find("replicating") != std::string::npos)
        std::printf("  agent: %s\n", line.c_str());
  }
  std::printf("rows: %ld, COPY binary bytes: %.1f MiB\n", rows,
              static_cast<double>(peer.bytes) / (1 << 20));
  std::printf("peer  COPY binary -> discard (1 conn):        %7.2f s  %10.0f rows/s\n",
              peer.seconds, static_cast<double>(rows) / peer.seconds);
  std::printf("ours  pg2bq run first start -> emulator ack (%d workers): %7.2f s  %10.0f rows/s\n",
              workers, ours_s, static_cast<double>(rows) / ours_s);
  std::printf("ratio ours/peer (throughput): %.2f\n", peer.seconds / ours_s);
  std::printf("pg2bq: CPU %.2f s, peak RSS %.1f MiB, exit %d\n", agent_run.cpu_s,
              agent_run.max_rss_mib, agent_run.exit_code);
  return 0;
}
