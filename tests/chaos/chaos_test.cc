// Chaos test of `pg2bq run`: while a workload thread keeps committing a mix of inserts,
// updates (TOASTed values left unchanged and rewritten), key changes and deletes on three
// tables (one without a key), the agent is SIGKILLed at random moments (>= 30 times by
// default), PostgreSQL is restarted (immediate), bq-emulator is SIGKILLed and restarted on
// the same ports, and the emulator injects faults (error rates per code, dropped AppendRows
// streams, latency, a short outage). At the end `pg2bq verify` must find every keyed table
// identical, the keyless table must hold exactly the source's row count, and the dead-letter
// file must be empty.
//
// PG2BQ_CHAOS_ITERATIONS (default 30) sets the number of kills, PG2BQ_CHAOS_SEED the random
// seed (printed, so a failing run can be repeated).
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "tests/e2e/agent_fixture.h"

namespace pg2bq::testing {
namespace {

using namespace std::chrono_literals;

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : fallback;
}

// Commits random mixed transactions on its own connection until stopped; reconnects when
// PostgreSQL goes away (a restart). Failed transactions are simply lost on the source too,
// so the source stays the truth verify compares against.
class Workload {
 public:
  Workload(const PgTestCluster& pg, unsigned seed) : pg_(pg), rng_(seed) {}
  ~Workload() { Stop(); }

  void Start() {
    thread_ = std::thread([this] { Loop(); });
  }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  long committed() const { return committed_; }
  long failed() const { return failed_; }

 private:
  int Rand(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  static std::string Toast(int seed) {
    // Incompressible text of 3.2-6.4 kB: stored out of line (TOAST), not inline-compressed.
    return "(SELECT string_agg(md5((i + " + std::to_string(seed) +
           ")::text), '') FROM generate_series(1, " + std::to_string(100 + seed % 100) + ") i)";
  }

  std::string Transaction() {
    std::string sql = "BEGIN;";
    const int steps = Rand(1, 4);
    for (int s = 0; s < steps; ++s) {
      const int op = Rand(0, 11);
      const int some = Rand(1, next_id_);
      switch (op) {
        case 0:
        case 1: {  // insert accounts, some with a TOASTed payload
          const int n = Rand(1, 20);
          const int first = next_id_;
          next_id_ += n;
          sql += "INSERT INTO accounts SELECT g, g * 10, 'n' || g, CASE WHEN g % 3 = 0 THEN " +
                 Toast(first) + " END FROM generate_series(" + std::to_string(first) + ", " +
                 std::to_string(first + n - 1) + ") g;";
          break;
        }
        case 2:  // update leaving the TOASTed payload unchanged
          sql += "UPDATE accounts SET balance = balance + 1, note = 'u" + std::to_string(s) +
                 "' WHERE id BETWEEN " + std::to_string(some) + " AND " +
                 std::to_string(some + Rand(0, 30)) + ";";
          break;
        case 3:  // rewrite a TOASTed payload
          sql += "UPDATE accounts SET payload = " + Toast(some) + " WHERE id = (SELECT min(id) " +
                 "FROM accounts WHERE id >= " + std::to_string(some) + ");";
          break;
        case 4: {  // primary-key change
          const int to = next_id_++;
          sql += "UPDATE accounts SET id = " + std::to_string(to) +
                 " WHERE id = (SELECT min(id) FROM accounts WHERE id >= " + std::to_string(some) +
                 ");";
          break;
        }
        case 5:  // deletes
          sql += "DELETE FROM accounts WHERE id BETWEEN " + std::to_string(some) + " AND " +
                 std::to_string(some + Rand(0, 5)) + ";";
          break;
        case 6: {  // composite-key inserts
          const int order = next_order_++;
          sql += "INSERT INTO lines SELECT " + std::to_string(order) +
                 ", g, g, 'sku' || g FROM generate_series(1, " + std::to_string(Rand(1, 8)) +
                 ") g;";
          break;
        }
        case 7: {  // composite-key change and updates
          const int order = Rand(1, next_order_);
          sql += "UPDATE lines SET line = line + 100 WHERE order_id = " + std::to_string(order) +
                 " AND line < 100;";
          sql += "UPDATE lines SET qty = qty * 2 WHERE order_id = " +
                 std::to_string(Rand(1, next_order_)) + ";";
          break;
        }
        case 8:
          sql += "DELETE FROM lines WHERE order_id = " + std::to_string(Rand(1, next_order_)) + ";";
          break;
        case 9:  // keyless change-log table
          sql += "INSERT INTO audit VALUES ('k" + std::to_string(Rand(0, 9)) + "', 'd" +
                 std::to_string(committed_) + "');";
          break;
        case 10:  // an occasional bigger transaction, so kills land mid-transaction too
          if (Rand(0, 30) == 0) {
            const int first = next_id_;
            next_id_ += 500;
            sql += "INSERT INTO accounts SELECT g, g, 'bulk', NULL FROM generate_series(" +
                   std::to_string(first) + ", " + std::to_string(first + 499) + ") g;";
          }
          break;
        default:
          sql += "UPDATE accounts SET balance = -balance WHERE id % 97 = " +
                 std::to_string(Rand(0, 96)) + " AND id > " + std::to_string(next_id_ - 2000) + ";";
      }
    }
    return sql + "COMMIT;";
  }

  void Loop() {
    std::optional<PgSession> session;
    while (!stop_) {
      if (!session) {
        auto c = pg_.Connect();
        if (!c.ok()) {
          std::this_thread::sleep_for(100ms);
          continue;
        }
        session.emplace(std::move(*c));
      }
      Status s = session->Exec(Transaction());
      if (s.ok()) {
        ++committed_;
      } else {
        ++failed_;
        session.reset();  // PostgreSQL restarted (or the transaction failed): fresh session
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(Rand(0, 8)));
    }
  }

  const PgTestCluster& pg_;
  std::mt19937 rng_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<long> committed_{0};
  std::atomic<long> failed_{0};
  int next_id_ = 1;
  int next_order_ = 1;
};

class ChaosTest : public AgentFixture {
 protected:
  ChaosTest() : AgentFixture("chaos") {}

  void SetUp() override {
    // EmulatorProcess always passes `--grpc-port 0 --http-port 0`; the wrapper drops them
    // when fixed ports follow, so a restarted emulator keeps the agent's endpoints.
    const std::string wrapper = dir_.path() + "/bq-emulator-wrapper.sh";
    std::ofstream w(wrapper);
    w << "#!/bin/bash\nargs=(\"$@\")\n"
      << "if [[ \" ${args[*]:6} \" == *\" --grpc-port \"* ]]; then "
      << "args=(\"${args[@]:0:2}\" \"${args[@]:6}\"); fi\n"
      << "exec " << BQ_EMULATOR_BINARY << " \"${args[@]}\"\n";
    w.close();
    std::filesystem::permissions(wrapper, std::filesystem::perms::owner_all);
    StartServices(wrapper);
    grpc_port_ = emulator_->grpc_target().substr(emulator_->grpc_target().rfind(':') + 1);
    http_port_ = emulator_->http_port();
  }

  // SIGKILL and restart on the same ports and data directory (the agent's endpoints stay).
  void RestartEmulator() {
    emulator_->Kill();
    Status s;
    for (int attempt = 0; attempt < 20; ++attempt) {  // the ports may linger a moment
      s = emulator_->Start({"--grpc-port", grpc_port_, "--http-port", std::to_string(http_port_)});
      if (s.ok()) return;
      std::this_thread::sleep_for(250ms);
    }
    FAIL() << "bq-emulator did not come back: " << s.ToString();
  }

  // SIGKILLs the agent unless it has already exited (CliProcess::Wait(0s) kills a live
  // child) and starts it again. An agent that exited by itself is a failure: the flusher
  // retries every sink error with backoff (docs/OPERATIONS.md), so no injected fault may
  // stop it.
  void KillAndRestart(const std::string& when, bool end_outage_first = false) {
    CliResult early = agent_->Wait(0s);
    if (!early.timed_out) {
      ++died_by_itself_;
      ADD_FAILURE() << when << ": the agent exited by itself (code " << early.exit_code << "):\n"
                    << early.err.substr(early.err.size() > 3000 ? early.err.size() - 3000 : 0);
    }
    if (end_outage_first) SetFaults(R"({"outage": false})");
    agent_ = StartAgent();
  }
  std::string grpc_port_;
  int http_port_ = 0;
  std::unique_ptr<CliProcess> agent_;
  int died_by_itself_ = 0;
};

TEST_F(ChaosTest, RandomKillsRestartsAndFaultsLoseNothing) {
  const int iterations = EnvInt("PG2BQ_CHAOS_ITERATIONS", 30);
  const unsigned seed =
      static_cast<unsigned>(EnvInt("PG2BQ_CHAOS_SEED", static_cast<int>(std::random_device{}())));
  std::printf("chaos: %d iterations, seed %u (PG2BQ_CHAOS_SEED=%u repeats the schedule)\n",
              iterations, seed, seed);
  std::mt19937 rng(seed);
  auto rand = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };

  Sql("CREATE TABLE accounts (id bigint PRIMARY KEY, balance bigint, note text, payload text)");
  Sql("CREATE TABLE lines (order_id integer, line integer, qty integer, sku text, "
      "PRIMARY KEY (order_id, line))");
  Sql("CREATE TABLE audit (kind text, detail text)");  // no key: a change-log table
  Sql("CREATE PUBLICATION chaos FOR ALL TABLES");
  agent_ = StartAgent();
  Workload workload(*pg_, seed + 1);
  workload.Start();

  const int pg_restart_at = iterations / 3;
  const int emulator_restart_at = (2 * iterations) / 3;
  for (int i = 0; i < iterations; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(rand(100, 2500)));
    // Faults change every few iterations; the agent must ride through all of them.
    switch (i % 6) {
      case 1:
        SetFaults(R"({"error_rates": {"AppendRows": {"UNAVAILABLE": 0.2, "INTERNAL": 0.05,
                      "RESOURCE_EXHAUSTED": 0.05, "ABORTED": 0.05}}})");
        break;
      case 2:
        SetFaults(R"({"error_rates": {"*": {"DEADLINE_EXCEEDED": 0.05, "UNKNOWN": 0.05}},
                      "drop_stream_after": 3, "latency_ms": 20})");
        break;
      case 3:
        // A short outage; the agent is killed during it and restarted once it is over
        // (startup checks that the target is reachable).
        SetFaults(R"({"outage": true})");
        std::this_thread::sleep_for(std::chrono::milliseconds(rand(500, 2000)));
        break;
      case 4:
        SetFaults(R"({"outage": false, "error_rates": {}, "drop_stream_after": 0,
                      "latency_ms": 0})");
        break;
      default:
        break;
    }
    if (i == pg_restart_at) {
      Status restarted = pg_->Restart("immediate");
      ASSERT_TRUE(restarted.ok()) << restarted.ToString();
    }
    if (i == emulator_restart_at) {
      RestartEmulator();
      SetFaults(R"({"outage": false})");
    }
    KillAndRestart("iteration " + std::to_string(i), i % 6 == 3);
  }
  workload.Stop();
  Sql("INSERT INTO audit VALUES ('end', 'end')");
  SetFaults(R"({"outage": false, "error_rates": {}, "drop_stream_after": 0, "latency_ms": 0})");
  std::this_thread::sleep_for(1s);
  KillAndRestart("after the faults were cleared");

  const auto t0 = std::chrono::steady_clock::now();
  // Generous: each verify reads every row back (~100 MB of JSON), slow on a busy machine.
  CliResult v = VerifyEventually(300s, [&] {
    if (!SlotActive()) KillAndRestart("while verifying");
  });
  std::printf("chaos: verify %s %.1f s after the last kill\n",
              v.exit_code == 0 ? "passed" : "FAILED",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  if (v.exit_code != 0) {
    const std::string log = agent_->ReadErr();
    std::printf("chaos: last agent's log (tail):\n%s\n",
                log.substr(log.size() > 6000 ? log.size() - 6000 : 0).c_str());
  }
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_NE(v.out.find("public.accounts -> replica.accounts: EQUAL"), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("public.lines -> replica.lines: EQUAL"), std::string::npos) << v.out;
  std::printf("%s", v.out.c_str());

  // verify skips keyless tables. Their change log must hold every source insert exactly
  // once: each row's _pg2bq_lsn ("COMMITLSN/ORDINAL") names one change and is the table's
  // primary key (replays overwrite themselves), so the distinct values and the raw row count
  // must both equal the source row count (nothing lost, nothing invented, nothing doubled).
  auto source_audit = pg_->QueryValue("SELECT count(*) FROM audit");
  ASSERT_TRUE(source_audit.ok());
  const std::size_t want_audit = std::stoul(*source_audit);
  std::size_t target_rows = 0;
  std::set<std::string> target_changes;
  for (int attempt = 0; attempt < 60; ++attempt) {
    auto dump = emulator_->Dump("proj.replica.audit");
    ASSERT_TRUE(dump.ok()) << dump.status().ToString();
    std::istringstream in(*dump);
    target_rows = 0;
    target_changes.clear();
    for (std::string l; std::getline(in, l);) {
      if (l.empty()) continue;
      ++target_rows;
      static constexpr std::string_view kLsnKey = "\"_pg2bq_lsn\":\"";
      const auto at = l.find(kLsnKey);
      ASSERT_NE(at, std::string::npos) << "change-log row without _pg2bq_lsn: " << l;
      const auto from = at + kLsnKey.size();
      target_changes.insert(l.substr(from, l.find('"', from) - from));
    }
    if (target_changes.size() >= want_audit && target_rows == target_changes.size()) break;
    std::this_thread::sleep_for(1s);
  }
  std::printf(
      "chaos: change-log table: %zu source rows, %zu distinct changes, %zu rows (%zu replayed)\n",
      want_audit, target_changes.size(), target_rows, target_rows - target_changes.size());
  EXPECT_EQ(target_changes.size(), want_audit)
      << "distinct changes in the keyless change-log table";
  EXPECT_EQ(target_rows, want_audit) << "rows in the keyless change-log table (exactly once)";

  std::printf("chaos: workload committed %ld transactions (%ld failed across restarts)\n",
              workload.committed(), workload.failed());
  EXPECT_EQ(died_by_itself_, 0);

  EXPECT_EQ(DeadLetters(), "") << "dead letters";

  StopAgent(agent_);
}

}  // namespace
}  // namespace pg2bq::testing
