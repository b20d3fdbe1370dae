// End-to-end benchmarks of `pg2bq run` (real PostgreSQL 15 -> pg2bq -> bq-emulator
// --no-storage, all on loopback). One mode per invocation:
//
//   e2e_bench throughput [--changes N]   backlog in WAL drained by pg2bq (decode, encode,
//        spool with fsync=batch, AppendRows until the emulator acknowledged every row) vs
//        pg_recvlogical draining an identical copied slot to /dev/null, same run. Also prints
//        pg2bq's CPU seconds and peak RSS per million changes (rusage of the child).
//   e2e_bench catchup [--changes N]      emulator in outage while N changes are spooled
//        (the slot's confirmed position reaches the end of the workload), then released:
//        drain rate from the spool backlog, plus CPU/RSS of the whole agent run.
//   e2e_bench lag [--rate R] [--seconds S] [--batch-latency D]
//        a fixed rate of R changes/s (100-row transactions) for S seconds; lag = time from
//        COMMIT returning to the emulator's acknowledged row count covering the transaction
//        (polled every ~2 ms over its admin endpoint, so resolution is a few ms).
//
// Changes are single-row INSERTs into an 8-column table (bigint key, int, text, numeric,
// timestamptz, bool, jsonb, uuid), 1000 per transaction unless stated.
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "bench/support/child_process.h"
#include "tests/bq_emulator/emulator_process.h"
#include "tests/support/pg_test_cluster.h"

namespace {

using pg2bq::bench::Check;
using pg2bq::bench::Child;
using pg2bq::bench::ChildResult;
using pg2bq::bench::Clock;
using pg2bq::bench::Die;
using pg2bq::bench::Reap;
using pg2bq::bench::Secs;
using pg2bq::bench::Spawn;
using pg2bq::testing::PgTestCluster;
using namespace std::chrono_literals;

class Setup {
 public:
  Setup() {
    auto started = PgTestCluster::Start({.settings = {{"logical_decoding_work_mem", "'64MB'"},
                                                      {"autovacuum", "off"},
                                                      {"shared_buffers", "'512MB'"},
                                                      {"max_wal_size", "'4GB'"}}});
    if (!started.ok()) Die(started.status().ToString());
    pg_ = std::move(*started);
    emulator_ =
        std::make_unique<pg2bq::bqemu::EmulatorProcess>(BQ_EMULATOR_BINARY, dir_.path() + "/bq");
    Check(emulator_->Start({"--no-storage"}), "bq-emulator");
    Check(pg_->Exec("CREATE TABLE bench (id bigint PRIMARY KEY, i int, t text, n numeric, "
                    "ts timestamptz, b bool, j jsonb, u uuid); "
                    "CREATE PUBLICATION bench FOR TABLE bench"),
          "schema");
  }
  PgTestCluster& pg() { return *pg_; }

  // A pre-created slot and `snapshot.initial = skip`: the agent streams every change from
  // the slot. (With the default `copy`, a table without a sync state is copied at start and
  // the changes before the copy's snapshot are dropped: the throughput figure would measure
  // the snapshot copy, not the stream.)
  std::string WriteConfig(const std::string& batch_latency) {
    const std::string path = dir_.path() + "/pg2bq.conf";
    std::ofstream f(path);
    f << "[source]\nhost = 127.0.0.1\nport = " << pg_->port()
      << "\ndbname = postgres\nuser = postgres\npassword = " << PgTestCluster::kPassword << "\n"
      << "[replication]\nslot = bench\npublication = bench\n"
      << "[target]\nproject = proj\ndataset = bench\ninsecure = true\n"
      << "grpc_endpoint = " << emulator_->grpc_target() << "\n"
      << "rest_endpoint = http://127.0.0.1:" << emulator_->http_port() << "\n"
      << "[snapshot]\ninitial = skip\n"
      << "[spool]\nfsync = batch\n"
      << "[flush]\nbatch_max_latency = " << batch_latency << "\n"
      << "[agent]\nstate_dir = " << dir_.path() << "/state\nmetrics_address = \n"
      << "log_level = warn\n";
    f.close();
    std::filesystem::permissions(
        path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    return path;
  }
  Child StartAgent(const std::string& config) {
    return Spawn({PG2BQ_BINARY, "run", "--config", config}, dir_.path() + "/agent.log");
  }
  long long RowsAppended() {
    httplib::Client c("127.0.0.1", emulator_->http_port());
    auto r = c.Get("/admin/stats");
    if (!r || r->status != 200) return -1;
    return nlohmann::json::parse(r->body).value("rows_appended", -1LL);
  }
  void SetOutage(bool on) {
    httplib::Client c("127.0.0.1", emulator_->http_port());
    auto r = c.Put("/admin/faults", on ? R"({"outage": true})" : R"({"outage": false})",
                   "application/json");
    if (!r || r->status != 200) Die("cannot set the outage switch");
  }
  // Waits until the emulator acknowledged `rows` rows; returns the time it did.
  Clock::time_point WaitRows(long long rows, Child& agent, std::chrono::seconds limit) {
    const auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      if (RowsAppended() >= rows) return Clock::now();
      if (waitpid(agent.pid, nullptr, WNOHANG) == agent.pid) Die("the agent exited; " + agent.log);
      std::this_thread::sleep_for(2ms);
    }
    Die("timed out waiting for " + std::to_string(rows) + " rows (have " +
        std::to_string(RowsAppended()) + "); agent log " + agent.log);
  }
  void Generate(long changes, long per_txn) {
    Check(pg_->Exec("DO $$ BEGIN FOR k IN 0.." + std::to_string(changes / per_txn - 1) +
                    " LOOP INSERT INTO bench " +
                    RowsSql("k * " + std::to_string(per_txn) + " + 1",
                            "(k + 1) * " + std::to_string(per_txn)) +
                    "; COMMIT; END LOOP; END $$"),
          "workload");
  }
  static std::string RowsSql(const std::string& from, const std::string& to) {
    return "SELECT g, (g % 100000)::int, 'customer-' || g || '-' || md5(g::text), "
           "round((g * 1.37)::numeric % 100000, 2), '2024-01-01 00:00:00+00'::timestamptz + g * "
           "interval '1 second', g % 2 = 0, jsonb_build_object('k', g, 'tag', 'v' || (g % 7)), "
           "md5(g::text)::uuid FROM generate_series(" +
           from + ", " + to + ") g";
  }
  std::string Dsn() const {
    return "host=127.0.0.1 port=" + std::to_string(pg_->port()) +
           " user=postgres dbname=postgres password=" + PgTestCluster::kPassword;
  }
  const std::string& dir() const { return dir_.path(); }

 private:
  pg2bq::bqemu::TempDir dir_;
  std::unique_ptr<PgTestCluster> pg_;
  std::unique_ptr<pg2bq::bqemu::EmulatorProcess> emulator_;
};

void PrintResources(const char* what, const ChildResult& r, long changes) {
  std::printf("%s: pg2bq CPU %.2f s = %.2f CPU s per million changes; peak RSS %.1f MiB\n", what,
              r.cpu_s, r.cpu_s * 1e6 / changes, r.max_rss_mib);
}

void Stop(Child& agent, const char* what, long changes) {
  kill(agent.pid, SIGTERM);
  PrintResources(what, Reap(agent), changes);
}

int Throughput(long changes) {
  Setup s;
  Check(s.pg().Exec("SELECT pg_create_logical_replication_slot('bench', 'pgoutput'); "
                    "SELECT pg_copy_logical_replication_slot('bench', 'recv')"),
        "slots");
  auto t = Clock::now();
  s.Generate(changes, 1000);
  const std::string end = s.pg().QueryValue("SELECT pg_current_wal_lsn()").value();
  std::printf("throughput: %ld changes (1000/txn) generated in %.1f s, WAL %s\n", changes,
              Secs(t, Clock::now()),
              s.pg()
                  .QueryValue("SELECT pg_size_pretty(pg_current_wal_lsn() - confirmed_flush_lsn) "
                              "FROM pg_replication_slots WHERE slot_name = 'bench'")
                  .value()
                  .c_str());
  std::fflush(stdout);
  Check(s.pg().Exec("CHECKPOINT"), "checkpoint");

  Child recv = Spawn({"/usr/lib/postgresql/15/bin/pg_recvlogical", "-d", s.Dsn(), "--slot", "recv",
                      "--start", "--no-loop", "-o", "proto_version=1", "-o",
                      "publication_names=bench", "--endpos", end, "-f", "/dev/null"},
                     s.dir() + "/recv.log");
  ChildResult rr = Reap(recv);
  std::printf(
      "pg_recvlogical (decode nothing, write to /dev/null): %.2f s, %.0f changes/s, CPU "
      "%.2f s\n",
      rr.wall_s, changes / rr.wall_s, rr.cpu_s);

  Child agent = s.StartAgent(s.WriteConfig("250ms"));
  const auto done = s.WaitRows(changes, agent, 900s);
  const double wall = Secs(agent.start, done);
  std::printf(
      "pg2bq run (decode, encode, spool fsync=batch, AppendRows acknowledged): %.2f s "
      "from process start, %.0f changes/s\n",
      wall, changes / wall);
  std::printf("ratio: pg2bq throughput / pg_recvlogical throughput = %.2fx (target > 1)\n",
              rr.wall_s / wall);
  Stop(agent, "throughput", changes);
  return 0;
}

int Catchup(long changes) {
  Setup s;
  Check(s.pg().Exec("SELECT pg_create_logical_replication_slot('bench', 'pgoutput')"), "slot");
  Child agent = s.StartAgent(s.WriteConfig("250ms"));
  // The outage starts once the agent runs: a first start refuses an unreachable target.
  for (;;) {
    auto v = s.pg().QueryValue(
        "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'bench' AND active");
    if (v.ok() && *v == "1") break;
    if (waitpid(agent.pid, nullptr, WNOHANG) == agent.pid) Die("the agent exited; " + agent.log);
    std::this_thread::sleep_for(50ms);
  }
  s.SetOutage(true);
  auto t = Clock::now();
  s.Generate(changes, 1000);
  const std::string end = s.pg().QueryValue("SELECT pg_current_wal_lsn()").value();
  std::printf("catchup: %ld changes generated in %.1f s while the emulator is in outage\n", changes,
              Secs(t, Clock::now()));
  std::fflush(stdout);
  // Everything spooled: the slot's confirmed position (= spool durable LSN) reached the end.
  for (;;) {
    auto v = s.pg().QueryValue("SELECT confirmed_flush_lsn >= '" + end +
                               "' FROM pg_replication_slots WHERE slot_name = 'bench'");
    if (v.ok() && *v == "t") break;
    if (waitpid(agent.pid, nullptr, WNOHANG) == agent.pid) Die("the agent exited; " + agent.log);
    std::this_thread::sleep_for(50ms);
  }
  std::uint64_t spool = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(s.dir() + "/state", ec))
    if (e.is_regular_file()) spool += e.file_size();
  std::printf(
      "catchup: all spooled %.1f s after the workload started; state dir %.1f MiB; "
      "acknowledged so far %lld\n",
      Secs(t, Clock::now()), spool / 1048576.0, s.RowsAppended());
  // Let the flusher's retry backoff settle so the release is not timed against a sleeping
  // retry timer only (both figures are printed).
  const auto release = Clock::now();
  s.SetOutage(false);
  Clock::time_point first;
  for (;;) {
    if (s.RowsAppended() > 0) {
      first = Clock::now();
      break;
    }
    std::this_thread::sleep_for(1ms);
  }
  const auto done = s.WaitRows(changes, agent, 900s);
  std::printf("catchup: first row acknowledged %.2f s after the release (retry backoff)\n",
              Secs(release, first));
  std::printf(
      "catchup: drain %.2f s from first acknowledgement = %.0f changes/s "
      "(%.0f changes/s counting from the release); target >= 300000\n",
      Secs(first, done), changes / Secs(first, done), changes / Secs(release, done));
  Stop(agent, "catchup (whole run incl. spooling)", changes);
  return 0;
}

int Lag(long rate, int seconds, const std::string& batch_latency) {
  Setup s;
  Check(s.pg().Exec("SELECT pg_create_logical_replication_slot('bench', 'pgoutput')"), "slot");
  Child agent = s.StartAgent(s.WriteConfig(batch_latency));
  // Warm up: the first rows create the target table.
  Check(s.pg().Exec("INSERT INTO bench " + Setup::RowsSql("1", "100")), "warmup");
  s.WaitRows(100, agent, 60s);
  const long per_txn = 100;
  const auto interval = std::chrono::nanoseconds(1000000000LL * per_txn / rate);
  struct Txn {
    long long cumulative;
    Clock::time_point committed;
  };
  std::vector<Txn> txns;
  std::vector<std::pair<Clock::time_point, long long>> samples;
  std::atomic<bool> done{false};
  std::thread poller([&] {
    while (!done) {
      long long n = s.RowsAppended();
      samples.emplace_back(Clock::now(), n);
      std::this_thread::sleep_for(2ms);
    }
  });
  auto session = s.pg().Connect();
  if (!session.ok()) Die(session.status().ToString());
  long long next = 101;
  const auto t0 = Clock::now();
  auto due = t0;
  int late = 0;
  while (Clock::now() < t0 + std::chrono::seconds(seconds)) {
    Check(session->Exec("INSERT INTO bench " +
                        Setup::RowsSql(std::to_string(next), std::to_string(next + per_txn - 1))),
          "insert");
    next += per_txn;
    txns.push_back({next - 1, Clock::now()});
    due += interval;
    if (Clock::now() > due + interval) ++late;
    std::this_thread::sleep_until(due);
  }
  const double achieved = (next - 101) / Secs(t0, Clock::now());
  s.WaitRows(next - 1, agent, 120s);
  std::this_thread::sleep_for(20ms);
  done = true;
  poller.join();
  std::vector<double> lags;
  std::size_t j = 0;
  for (const auto& t : txns) {
    while (j < samples.size() && samples[j].second < t.cumulative)
      ++j;
    if (j == samples.size()) Die("acknowledgement sample missing");
    lags.push_back(std::max(0.0, Secs(t.committed, samples[j].first)) * 1000);
  }
  std::sort(lags.begin(), lags.end());
  auto pct = [&](double p) {
    return lags[std::min(lags.size() - 1, (std::size_t)(p * lags.size()))];
  };
  std::printf(
      "lag: target rate %ld changes/s, achieved %.0f (%d transactions late), %zu "
      "transactions of %ld rows, batch_max_latency %s\n",
      rate, achieved, late, txns.size(), per_txn, batch_latency.c_str());
  std::printf(
      "lag commit -> BigQuery ack: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms "
      "(target p99 < 500 ms)\n",
      pct(0.5), pct(0.9), pct(0.99), lags.back());
  Stop(agent, "lag", next - 1);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2)
    Die("usage: e2e_bench throughput|catchup|lag [--changes N] [--rate R] "
        "[--seconds S] [--batch-latency D]");
  const std::string mode = argv[1];
  long changes = 1000000, rate = 10000;
  int seconds = 30;
  std::string batch_latency = "250ms";
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--changes")
      changes = std::stol(argv[i + 1]);
    else if (k == "--rate")
      rate = std::stol(argv[i + 1]);
    else if (k == "--seconds")
      seconds = std::stoi(argv[i + 1]);
    else if (k == "--batch-latency")
      batch_latency = argv[i + 1];
    else
      Die("unknown option " + k);
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (mode == "throughput") return Throughput(changes);
  if (mode == "catchup") return Catchup(changes);
  if (mode == "lag") return Lag(rate, seconds, batch_latency);
  Die("unknown mode " + mode);
}
