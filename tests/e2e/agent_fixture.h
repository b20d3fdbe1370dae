// The fixture of the tests that run the real `pg2bq run` (tests/e2e, tests/chaos,
// tests/snapshot): a throw-away PostgreSQL 15 cluster and bq-emulator started per test, the
// agent's config pointing at both, and the ways those tests judge the result (`pg2bq
// verify`, the emulator's dump, the slot's state). Built by pg2bq_agent_test() in
// tests/CMakeLists.txt, which compiles in PG2BQ_BINARY and BQ_EMULATOR_BINARY.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/bq_emulator/emulator_process.h"
#include "tests/integration/cli_runner.h"
#include "tests/support/pg_test_cluster.h"

namespace pg2bq::testing {

class AgentFixture : public ::testing::Test {
 protected:
  // `slot` names the replication slot and the publication the test creates.
  explicit AgentFixture(std::string slot) : slot_(std::move(slot)) {}

  void SetUp() override { StartServices(BQ_EMULATOR_BINARY); }

  // Starts PostgreSQL and bq-emulator (`emulator_binary`: e.g. a wrapper that keeps ports
  // across restarts) and writes the config.
  void StartServices(const std::string& emulator_binary) {
    auto c = PgTestCluster::Start();
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    pg_ = std::move(*c);
    emulator_ = std::make_unique<bqemu::EmulatorProcess>(emulator_binary, dir_.path() + "/bq");
    Status s = emulator_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
    config_ = dir_.path() + "/pg2bq.conf";
    WriteConfig();
  }

  // The agent's config for the current emulator ports; `extra` (INI sections with keys the
  // base does not set) is appended.
  void WriteConfig(const std::string& extra = "") {
    std::ofstream f(config_);
    f << "[source]\n"
      << "host = " << pg_->host() << "\nport = " << pg_->port() << "\ndbname = postgres\n"
      << "user = postgres\npassword = " << PgTestCluster::kPassword << "\n"
      << "[replication]\nslot = " << slot_ << "\npublication = " << slot_ << "\n"
      << "[target]\nproject = proj\ndataset = replica\ninsecure = true\n"
      << "grpc_endpoint = " << emulator_->grpc_target() << "\n"
      << "rest_endpoint = http://127.0.0.1:" << emulator_->http_port() << "\n"
      << "[spool]\nfsync = batch\n"
      << "[flush]\nparallelism = 2\n"
      << "[agent]\nstate_dir = " << dir_.path() << "/state\nmetrics_address = 127.0.0.1:0\n"
      << "shutdown_timeout = 20s\n"
      << extra;
    f.close();
    std::filesystem::permissions(
        config_, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  }

  void Sql(const std::string& sql) {
    Status s = pg_->Exec(sql);
    ASSERT_TRUE(s.ok()) << s.ToString() << "\n" << sql;
  }
  std::string Value(const std::string& sql) {
    auto v = pg_->QueryValue(sql);
    EXPECT_TRUE(v.ok()) << v.status().ToString() << "\n" << sql;
    return v.ok() ? *v : "";
  }

  // The slot is read by START_REPLICATION. (`active` alone is also true while the agent's
  // first start creates the slot and copies tables in its exported snapshot.)
  bool SlotActive() {
    auto active = pg_->QueryValue(
        "SELECT count(*) FROM pg_replication_slots s JOIN pg_stat_replication r "
        "ON r.pid = s.active_pid WHERE s.slot_name = '" +
        slot_ + "' AND r.state IN ('catchup', 'streaming')");
    return active.ok() && *active == "1";
  }
  // Waits until the agent streams from its slot (after any snapshot copies).
  bool WaitStreaming(std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (SlotActive()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  // Starts the agent; with `wait`, returns once its slot is streaming (at most 30 s).
  std::unique_ptr<CliProcess> StartAgent(bool wait = true) {
    auto p = std::make_unique<CliProcess>(std::vector<std::string>{"run", "--config", config_});
    if (wait) WaitStreaming(std::chrono::seconds(30));
    return p;
  }

  // SIGTERM, and the agent must stop cleanly (exit 0) within a minute.
  void StopAgent(std::unique_ptr<CliProcess>& agent) {
    agent->Signal(SIGTERM);
    CliResult r = agent->Wait(std::chrono::seconds(60));
    EXPECT_EQ(r.exit_code, 0) << agent->ReadErr();
  }

  // Polls `pg2bq verify` until it passes or `limit` is up; returns its last result.
  // `between` runs after each failed attempt (e.g. restart an agent that died).
  CliResult VerifyEventually(std::chrono::seconds limit = std::chrono::seconds(90),
                             const std::function<void()>& between = {}) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    CliResult r;
    do {
      r = RunCli({"verify", "--config", config_}, std::chrono::seconds(120));
      if (r.exit_code == 0) return r;
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      if (between) between();
    } while (std::chrono::steady_clock::now() < deadline);
    return r;
  }

  void SetFaults(const std::string& body) {
    httplib::Client c("127.0.0.1", emulator_->http_port());
    c.set_connection_timeout(5);
    auto r = c.Put("/admin/faults", body, "application/json");
    EXPECT_TRUE(r && r->status == 200) << body << ": " << (r ? r->body : "no response");
  }

  // The emulator's rows of proj.replica.<table>, one JSON object per line.
  std::vector<std::string> DumpLines(const std::string& table) {
    auto out = emulator_->Dump("proj.replica." + table);
    EXPECT_TRUE(out.ok()) << out.status().ToString();
    std::vector<std::string> lines;
    std::istringstream in(out.ok() ? *out : "");
    for (std::string l; std::getline(in, l);)
      if (!l.empty()) lines.push_back(l);
    return lines;
  }

  // A file's whole text ("" when it does not exist), e.g. the dead-letter file.
  static std::string ReadText(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    if (in) text << in.rdbuf();
    return text.str();
  }
  std::string DeadLetters() const { return ReadText(dir_.path() + "/state/dead_letters.jsonl"); }

  bqemu::TempDir dir_;
  std::unique_ptr<PgTestCluster> pg_;
  std::unique_ptr<bqemu::EmulatorProcess> emulator_;
  std::string config_;
  const std::string slot_;
};

}  // namespace pg2bq::testing
