// `pg2bq run` end to end: real PostgreSQL 15 -> pg2bq (real executable) -> bq-emulator,
// judged by `pg2bq verify` (and the emulator's dump) against the source.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "tests/bq_emulator/emulator_process.h"
#include "tests/integration/cli_runner.h"
#include "tests/support/pg_test_cluster.h"

namespace pg2bq::testing {
namespace {

using namespace std::chrono_literals;

class RunE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = PgTestCluster::Start();
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    pg_ = std::move(*c);
    emulator_ = std::make_unique<bqemu::EmulatorProcess>(BQ_EMULATOR_BINARY, dir_.path() + "/bq");
    Status s = emulator_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
    config_ = dir_.path() + "/pg2bq.conf";
    std::ofstream f(config_);
    f << "[source]\n"
      << "host = " << pg_->host() << "\nport = " << pg_->port() << "\ndbname = postgres\n"
      << "user = postgres\npassword = " << PgTestCluster::kPassword << "\n"
      << "[replication]\nslot = e2e\npublication = e2e\n"
      << "[target]\nproject = proj\ndataset = replica\ninsecure = true\n"
      << "grpc_endpoint = " << emulator_->grpc_target() << "\n"
      << "rest_endpoint = http://127.0.0.1:" << emulator_->http_port() << "\n"
      << "[spool]\nfsync = batch\n"
      << "[flush]\nparallelism = 2\n"
      << "[agent]\nstate_dir = " << dir_.path() << "/state\nmetrics_address = 127.0.0.1:0\n"
      << "shutdown_timeout = 20s\n";
  }

  void Sql(const std::string& sql) {
    Status s = pg_->Exec(sql);
    ASSERT_TRUE(s.ok()) << s.ToString() << "\n" << sql;
  }

  // Starts the agent and waits until its slot is streaming (changes made before the slot
  // first exists are not replicated: there is no snapshot bootstrap yet).
  std::unique_ptr<CliProcess> StartAgent() {
    auto p = std::make_unique<CliProcess>(std::vector<std::string>{"run", "--config", config_});
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      auto active = pg_->QueryValue(
          "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'e2e' "
          "AND active");
      if (active.ok() && *active == "1") break;
      std::this_thread::sleep_for(50ms);
    }
    return p;
  }

  // Polls `pg2bq verify` until it passes (or the time is up); returns its last result.
  CliResult VerifyEventually(std::chrono::seconds limit = 60s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    CliResult r;
    do {
      r = RunCli({"verify", "--config", config_}, 60s);
      if (r.exit_code == 0) return r;
      std::this_thread::sleep_for(300ms);
    } while (std::chrono::steady_clock::now() < deadline);
    return r;
  }

  bqemu::TempDir dir_;
  std::unique_ptr<PgTestCluster> pg_;
  std::unique_ptr<bqemu::EmulatorProcess> emulator_;
  std::string config_;
};

TEST_F(RunE2eTest, InsertsUpdatesDeletesKeyChangeToastTruncate) {
  Sql("CREATE TABLE orders (id bigint PRIMARY KEY, customer text, amount numeric(12,2), "
      "note text, qty integer, paid boolean)");
  Sql("CREATE TABLE items (sku text, code integer, PRIMARY KEY (sku, code), name text)");
  Sql("CREATE PUBLICATION e2e FOR ALL TABLES");
  auto agent = StartAgent();
  Sql("INSERT INTO orders SELECT g, 'c' || g, g * 1.5, NULL, g, g % 2 = 0 "
      "FROM generate_series(1, 500) g");
  // A TOASTed value (incompressible, > 2 kB) that later updates leave unchanged.
  Sql("UPDATE orders SET note = (SELECT string_agg(md5(i::text), '') FROM "
      "generate_series(1, 200) i) WHERE id <= 10");
  Sql("UPDATE orders SET qty = qty + 1000 WHERE id <= 20");  // note unchanged ('u')
  Sql("DELETE FROM orders WHERE id BETWEEN 100 AND 150");
  Sql("UPDATE orders SET id = id + 10000 WHERE id BETWEEN 200 AND 210");  // key change
  Sql("INSERT INTO items SELECT 's' || g, g, 'n' || g FROM generate_series(1, 100) g");
  Sql("TRUNCATE items");
  Sql("INSERT INTO items VALUES ('after', 1, 'kept')");
  Sql("BEGIN; INSERT INTO orders VALUES (90001, 'tx', 1, 'x', 1, true); "
      "UPDATE orders SET customer = 'tx2' WHERE id = 90001; COMMIT");
  CliResult v = VerifyEventually();
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_NE(v.out.find("public.orders -> replica.orders: EQUAL"), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("public.items -> replica.items: EQUAL (source 1 rows"), std::string::npos)
      << v.out;
  // The TOASTed note survived the updates that did not send it.
  auto dump = emulator_->Dump("proj.replica.orders");
  ASSERT_TRUE(dump.ok());
  EXPECT_EQ(dump->find("\"note\":null,\"qty\":1001"), std::string::npos) << dump->substr(0, 600);
  // A difference is reported (and verify fails) once the target is behind.
  agent->Signal(SIGTERM);
  CliResult stopped = agent->Wait(60s);
  EXPECT_EQ(stopped.exit_code, 0) << stopped.err;
  Sql("INSERT INTO orders VALUES (777777, 'late', 1, NULL, 1, false)");
  CliResult diff = RunCli({"verify", "--config", config_}, 60s);
  EXPECT_EQ(diff.exit_code, 1) << diff.out;
  EXPECT_NE(diff.out.find("missing (777777)"), std::string::npos) << diff.out;
  // Restarting picks up exactly where it stopped.
  agent = StartAgent();
  v = VerifyEventually();
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  agent->Signal(SIGTERM);
  EXPECT_EQ(agent->Wait(60s).exit_code, 0);
}

TEST_F(RunE2eTest, SigkillAndRestartLoseNothing) {
  Sql("CREATE TABLE t (id integer PRIMARY KEY, v integer, s text)");
  Sql("CREATE PUBLICATION e2e FOR ALL TABLES");
  auto agent = StartAgent();
  for (int round = 0; round < 6; ++round) {
    for (int i = 0; i < 20; ++i) {
      const int base = round * 1000 + i * 40;
      Sql("INSERT INTO t SELECT g, g, 'r' FROM generate_series(" + std::to_string(base) + ", " +
          std::to_string(base + 39) + ") g");
      Sql("UPDATE t SET v = v + 1 WHERE id % 7 = " + std::to_string(i % 7));
      Sql("DELETE FROM t WHERE id % 13 = " + std::to_string((i + round) % 13) + " AND id < " +
          std::to_string(base));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50 + 70 * round));
    agent->Signal(SIGKILL);
    agent->Wait(10s);
    agent = StartAgent();
  }
  CliResult v = VerifyEventually(90s);
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  // The slot is not held back once everything is flushed.
  agent->Signal(SIGTERM);
  EXPECT_EQ(agent->Wait(60s).exit_code, 0);
}

}  // namespace
}  // namespace pg2bq::testing
