// End-to-end consumption benchmark: drain a pgoutput slot holding a 1,000,000-row
// insert workload (1,000 rows per transaction; bigint key, int, text, numeric,
// timestamptz, bool, jsonb, uuid) with `pg2bq stream --output none` (every value
// decoded, nothing printed) and with pg_recvlogical, each from its own identical slot
// (pg_copy_logical_replication_slot), over TCP loopback, in the same run.
//
// Prints per consumer: wall time, the consumer's CPU (rusage of the child), the
// walsender's CPU (/proc/<pid>/stat of the backend found via pg_stat_replication.pid,
// sampled every 5 ms until it exits) and the ratios against pg_recvlogical.
//
// Usage: stream_bench [--rows N] [--rounds R]   (defaults: 1000000 rows, 2 rounds;
// rounds alternate which consumer goes first)
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench/support/child_process.h"
#include "tests/support/pg_test_cluster.h"

namespace {

using pg2bq::bench::Check;
using pg2bq::bench::Clock;
using pg2bq::bench::Die;
using pg2bq::bench::ProcCpuSeconds;
using pg2bq::testing::PgTestCluster;

struct RunResult {
  double wall_s = 0;
  double consumer_cpu_s = 0;
  double walsender_cpu_s = 0;
  std::string reads;  // pg2bq's own read counters, from its last log line
};

RunResult RunConsumer(const PgTestCluster& pg, const std::vector<std::string>& argv_in,
                      const std::string& application_name) {
  const auto child = pg2bq::bench::Spawn(argv_in, pg.dir() + "/" + application_name + ".log");
  const std::string& log = child.log;

  // Find the walsender serving this consumer, then sample its CPU until it exits.
  std::atomic<bool> child_done{false};
  double walsender_cpu = 0;
  std::thread sampler([&] {
    auto session = pg.Connect();
    if (!session.ok()) return;
    int ws_pid = 0;
    while (!child_done && ws_pid == 0) {
      auto v = session->QueryValue(
          "SELECT coalesce(max(pid), 0) FROM pg_stat_replication "
          "WHERE application_name = '" +
          application_name + "'");
      if (v.ok()) ws_pid = std::stoi(*v);
      if (ws_pid == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    while (ws_pid != 0) {
      double cpu = ProcCpuSeconds(ws_pid);
      if (cpu < 0) break;
      walsender_cpu = cpu;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  const auto ran = pg2bq::bench::Reap(child);
  child_done = true;
  sampler.join();
  RunResult r;
  r.wall_s = ran.wall_s;
  r.consumer_cpu_s = ran.cpu_s;
  r.walsender_cpu_s = walsender_cpu;
  // How the reads went explains a slow round: many small reads make the walsender's
  // sends costlier (see agent/replication_stream.h).
  std::ifstream in(log);
  for (std::string line; std::getline(in, line);) {
    const auto at = line.find(" reads (");
    if (at == std::string::npos) continue;
    const auto from = line.rfind("; ", at);
    const auto to = line.find("; confirmed", at);
    if (from != std::string::npos && to != std::string::npos)
      r.reads = line.substr(from + 2, to - from - 2);
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  long rows = 1000000;
  int rounds = 2;
  std::vector<std::string> extra;  // --pg2bq-arg X (repeatable): extra `pg2bq stream` options
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--rows")
      rows = std::stol(argv[i + 1]);
    else if (k == "--rounds")
      rounds = std::stoi(argv[i + 1]);
    else if (k == "--pg2bq-arg")
      extra.push_back(argv[i + 1]);
    else
      Die("unknown option " + k);
  }
  const long per_txn = 1000;
  const char* bindir_env = std::getenv("PG2BQ_PG_BINDIR");
  const std::string bindir = bindir_env ? bindir_env : "/usr/lib/postgresql/15/bin";

  std::printf("stream_bench: %ld rows, %ld rows/txn, %d round(s), TCP loopback, PG15\n", rows,
              per_txn, rounds);
  auto started = PgTestCluster::Start({.settings = {{"logical_decoding_work_mem", "'64MB'"},
                                                    {"autovacuum", "off"},
                                                    {"shared_buffers", "'512MB'"},
                                                    {"max_wal_size", "'4GB'"}}});
  if (!started.ok()) Die(started.status().ToString());
  PgTestCluster& pg = **started;

  Check(pg.Exec("CREATE TABLE bench (id bigint PRIMARY KEY, i int, t text, n numeric, "
                "ts timestamptz, b bool, j jsonb, u uuid); "
                "CREATE PUBLICATION bench_pub FOR TABLE bench"),
        "schema");
  const std::vector<std::string> consumers = {"pg2bq_text", "pg2bq_binary", "pg_recvlogical"};
  std::vector<std::string> slots;
  Check(pg.Exec("SELECT pg_create_logical_replication_slot('base', 'pgoutput')"), "slot");
  for (int r = 0; r < rounds; ++r) {
    for (const auto& c : consumers) {
      std::string slot = c + "_" + std::to_string(r);
      Check(pg.Exec("SELECT pg_copy_logical_replication_slot('base', '" + slot + "')"),
            "copy slot");
    }
  }
  std::printf("generating the workload...\n");
  std::fflush(stdout);
  const auto gen_start = Clock::now();
  Check(pg.Exec("DO $$ BEGIN FOR k IN 0.." + std::to_string(rows / per_txn - 1) +
                " LOOP INSERT INTO bench SELECT g, (g % 100000)::int, 'customer-' || g || "
                "'-' || md5(g::text), round((g * 1.37)::numeric % 100000, 2), "
                "'2024-01-01 00:00:00+00'::timestamptz + g * interval '1 second', g % 2 = 0, "
                "jsonb_build_object('k', g, 'tag', 'v' || (g % 7), 'ok', g % 3 = 0), "
                "md5(g::text)::uuid FROM generate_series(k * " +
                std::to_string(per_txn) + " + 1, (k + 1) * " + std::to_string(per_txn) +
                ") g; COMMIT; END LOOP; END $$"),
        "workload");
  const std::string end = pg.QueryValue("SELECT pg_current_wal_lsn()").value();
  const std::string wal_bytes =
      pg.QueryValue(
            "SELECT pg_size_pretty(pg_current_wal_lsn() - confirmed_flush_lsn) FROM "
            "pg_replication_slots WHERE slot_name = 'base'")
          .value();
  std::printf("workload: %.1f s, %s of WAL to decode, end LSN %s\n",
              std::chrono::duration<double>(Clock::now() - gen_start).count(), wal_bytes.c_str(),
              end.c_str());
  Check(pg.Exec("SELECT pg_drop_replication_slot('base'); CHECKPOINT"), "drop base");

  const std::string dsn = "host=127.0.0.1 port=" + std::to_string(pg.port()) +
                          " user=postgres password=" + PgTestCluster::kPassword +
                          " dbname=postgres";
  std::map<std::string, std::vector<RunResult>> results;
  for (int r = 0; r < rounds; ++r) {
    std::vector<std::string> order = consumers;
    if (r % 2 == 1) std::reverse(order.begin(), order.end());
    for (const auto& c : order) {
      const std::string slot = c + "_" + std::to_string(r);
      RunResult res;
      if (c == "pg_recvlogical") {
        res = RunConsumer(pg,
                          {bindir + "/pg_recvlogical", "-d", dsn + " application_name=" + c,
                           "--slot", slot, "--start", "--no-loop", "-o", "proto_version=1", "-o",
                           "publication_names=bench_pub", "--endpos", end, "-f", "/dev/null"},
                          c);
      } else {
        std::vector<std::string> args = {
            PG2BQ_BINARY,      "stream", "--dsn",         dsn + " application_name=" + c,
            "--slot",          slot,     "--publication", "bench_pub",
            "--proto-version", "1",      "--output",      "none",
            "--end-lsn",       end,      "--log-level",   "info"};
        if (c == "pg2bq_binary") args.push_back("--binary");
        args.insert(args.end(), extra.begin(), extra.end());
        res = RunConsumer(pg, args, c);
      }
      std::printf("  round %d %-15s wall %6.2f s  consumer CPU %6.2f s  walsender CPU %6.2f s\n",
                  r + 1, c.c_str(), res.wall_s, res.consumer_cpu_s, res.walsender_cpu_s);
      if (!res.reads.empty()) std::printf("          %s\n", res.reads.c_str());
      std::fflush(stdout);
      results[c].push_back(res);
    }
  }

  auto best = [&](const std::string& c) {  // the fastest round of each consumer
    RunResult b = results[c][0];
    for (const auto& x : results[c]) {
      if (x.wall_s < b.wall_s) b = x;
    }
    return b;
  };
  const RunResult base = best("pg_recvlogical");
  std::printf(
      "\nbest of %d round(s) | wall s | consumer CPU s | walsender CPU s | wall vs "
      "pg_recvlogical | walsender CPU vs pg_recvlogical | consumer CPU per change\n",
      rounds);
  for (const auto& c : consumers) {
    const RunResult x = best(c);
    std::printf("%-15s | %6.2f | %6.2f | %6.2f | %.2fx | %.2fx | %.2f us\n", c.c_str(), x.wall_s,
                x.consumer_cpu_s, x.walsender_cpu_s, x.wall_s / base.wall_s,
                x.walsender_cpu_s / base.walsender_cpu_s, x.consumer_cpu_s * 1e6 / rows);
  }
  for (const char* mode : {"pg2bq_text", "pg2bq_binary"}) {
    const RunResult r = best(mode);
    const double us = r.consumer_cpu_s * 1e6 / rows;
    std::printf(
        "%stargets (%s): wall <= 0.7x pg_recvlogical: %s (%.2fx); "
        "pg2bq CPU <= 1 us/change: %s (%.2f us)\n",
        mode == std::string_view("pg2bq_text") ? "\n" : "", mode,
        r.wall_s <= 0.7 * base.wall_s ? "MET" : "NOT MET", r.wall_s / base.wall_s,
        us <= 1.0 ? "MET" : "NOT MET", us);
  }
  return 0;
}
