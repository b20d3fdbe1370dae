// Snapshot bootstrap through `pg2bq run`: real PostgreSQL 15 -> pg2bq (real executable) ->
// bq-emulator, judged by `pg2bq verify` and the emulator's dump (docs/SNAPSHOT.md).
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "tests/e2e/agent_fixture.h"

namespace pg2bq::testing {
namespace {

using namespace std::chrono_literals;

class RunSnapshotTest : public AgentFixture {
 protected:
  RunSnapshotTest() : AgentFixture("snap") {}

  void SetUp() override {
    AgentFixture::SetUp();
    WriteSnapshotConfig("");
  }
  // The fixture's config plus a [snapshot] section: 3 workers, a fast publication poll,
  // and `keys`.
  void WriteSnapshotConfig(const std::string& keys) {
    WriteConfig("[snapshot]\nworkers = 3\npoll_interval = 500ms\n" + keys);
  }
  // Starts the agent and waits until it streams (after its first-start copies).
  std::unique_ptr<CliProcess> StartAgentAndWait() {
    auto agent = StartAgent(/*wait=*/false);
    EXPECT_TRUE(WaitStreaming(120s)) << agent->ReadErr();
    return agent;
  }

  // The sync state JSON of a table (empty object when it has none).
  nlohmann::json SyncState(const std::string& table) {
    const std::string oid = Value("SELECT '" + table + "'::regclass::oid");
    std::ifstream in(dir_.path() + "/state/snapshot/" + oid + ".json");
    if (!in) return nlohmann::json::object();
    std::stringstream ss;
    ss << in.rdbuf();
    auto j = nlohmann::json::parse(ss.str(), nullptr, false);
    return j.is_discarded() ? nlohmann::json::object() : j;
  }
  // Side spools of held changes (docs/SNAPSHOT.md, "Hold-back"): directory -> bytes in it.
  std::map<std::string, std::uintmax_t> HeldSpools() {
    std::map<std::string, std::uintmax_t> out;
    std::error_code ec;
    for (std::filesystem::directory_iterator it(dir_.path() + "/state/snapshot", ec), end;
         !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name.rfind("held-", 0) != 0) continue;
      std::uintmax_t bytes = 0;
      std::error_code ec2;
      for (std::filesystem::directory_iterator f(it->path(), ec2), fend; !ec2 && f != fend;
           f.increment(ec2)) {
        if (f->path().filename().string().find(".seg") != std::string::npos)
          bytes += f->file_size(ec2);
      }
      out[name] = bytes;
    }
    return out;
  }
  // The bytes of every side spool HeldSpools listed.
  static std::uintmax_t TotalBytes(const std::map<std::string, std::uintmax_t>& spools) {
    std::uintmax_t total = 0;
    for (const auto& [name, bytes] : spools)
      total += bytes;
    return total;
  }
  // A copy made slow on purpose: every AppendRows request waits `latency_ms` in the emulator,
  // requests are small and the spool budget (2 MiB) lets the copy run only as fast as
  // BigQuery acknowledges it. One copy worker; `snapshot_keys` are added to [snapshot].
  void WriteSlowCopyConfig(const std::string& snapshot_keys = "") {
    WriteConfig(
        "[spool]\nbudget = 2MiB\nsegment_size = 1MiB\n[flush]\nbatch_max_bytes = 16KiB\n"
        "[snapshot]\nworkers = 1\npoll_interval = 500ms\n" +
        snapshot_keys);
  }
  // Random inserts/updates/deletes of `big` (keys 1..max_id+20000) and inserts into the
  // keyless `big_log`, until `stop`.
  static void WriteLoad(PgTestCluster* pg, long max_id, const std::atomic<bool>& stop,
                        std::atomic<int>* errors, std::atomic<long>* done) {
    auto session = pg->Connect();
    if (!session.ok()) {
      ++*errors;
      return;
    }
    std::mt19937 rng(7);
    for (long i = 0; !stop.load(); ++i) {
      const long id = 1 + static_cast<long>(rng() % static_cast<unsigned long>(max_id + 20000));
      std::string sql;
      switch (rng() % 4) {
        case 0:
          sql = "INSERT INTO big VALUES (" + std::to_string(id) +
                ", 0, 'ins') ON CONFLICT (id) DO UPDATE SET v = big.v + 1, pad = 'upd-ins'";
          break;
        case 1:
          sql = "UPDATE big SET v = v + 1, pad = 'upd' WHERE id = " + std::to_string(id);
          break;
        case 2:
          sql = "DELETE FROM big WHERE id = " + std::to_string(id);
          break;
        default:
          sql = "INSERT INTO big_log VALUES (" + std::to_string(-i) + ", 'during')";
      }
      if (!session->Exec(sql).ok()) ++*errors;
      ++*done;
    }
  }
  // WriteLoad on its own connection and thread, stopped and joined at the latest when the
  // test ends (also after a failed ASSERT, which would otherwise leave it running).
  class BackgroundLoad {
   public:
    explicit BackgroundLoad(PgTestCluster* pg)
        : thread_([this, pg] { WriteLoad(pg, 300000, stop_, &errors_, &writes_); }) {}
    ~BackgroundLoad() { Stop(); }
    // Stops the load; returns how many of its statements failed.
    int Stop() {
      stop_.store(true);
      if (thread_.joinable()) thread_.join();
      return errors_.load();
    }
    long writes() const { return writes_.load(); }

   private:
    std::atomic<bool> stop_{false};
    std::atomic<int> errors_{0};
    std::atomic<long> writes_{0};
    std::thread thread_;
  };
  // The held-copy tests' tables: `other` (published), `big` (300,000 rows) and the keyless
  // `big_log` (`log_rows` rows), the last two added to the publication by the test.
  void CreateHeldCopyTables(int log_rows) {
    Sql("CREATE TABLE other (id bigint PRIMARY KEY, v text)");
    Sql("CREATE TABLE big (id bigint PRIMARY KEY, v integer, pad text)");
    Sql("CREATE TABLE big_log (v bigint, pad text)");  // keyless
    Sql("CREATE PUBLICATION snap FOR TABLE other");
    Sql("INSERT INTO big SELECT g, g, md5(g::text) FROM generate_series(1, 300000) g");
    Sql("INSERT INTO big_log SELECT g, md5(g::text) FROM generate_series(1, " +
        std::to_string(log_rows) + ") g");
  }
  // The first-start copy tests: the slow copy, `big` (300,000 rows) and the keyless
  // `big_log` (1,000 rows), both published before the agent's first start.
  void CreateFirstStartCopyTables() {
    WriteSlowCopyConfig();
    Sql("CREATE TABLE big (id bigint PRIMARY KEY, v integer, pad text)");
    Sql("CREATE TABLE big_log (v bigint, pad text)");  // keyless
    Sql("CREATE PUBLICATION snap FOR TABLE big, big_log");
    Sql("INSERT INTO big SELECT g, g, md5(g::text) FROM generate_series(1, 300000) g");
    Sql("INSERT INTO big_log SELECT g, md5(g::text) FROM generate_series(1, 1000) g");
  }
  // How the names of `table`'s side spools (HeldSpools) begin.
  std::string HeldSpoolPrefix(const std::string& table) {
    return "held-" + Value("SELECT '" + table + "'::regclass::oid") + "-";
  }
  // Whether `spools` (HeldSpools) is one side spool whose name begins with `prefix`.
  static bool HoldsOnly(const std::map<std::string, std::uintmax_t>& spools,
                        const std::string& prefix) {
    return spools.size() == 1 && spools.begin()->first.rfind(prefix, 0) == 0;
  }
  // The agent's /metrics text, at the port its log names (nullopt when unreachable).
  static std::optional<std::string> MetricsText(CliProcess* agent) {
    std::smatch port;
    const std::string err = agent->ReadErr();
    if (!std::regex_search(err, port, std::regex("metrics on http://127\\.0\\.0\\.1:(\\d+)/")))
      return std::nullopt;
    httplib::Client http("127.0.0.1", std::stoi(port[1]));
    auto metrics = http.Get("/metrics");
    if (!metrics || metrics->status != 200) return std::nullopt;
    return metrics->body;
  }
  // A metric's value from the agent's /metrics (-1 when absent or unreachable).
  static double MetricValue(CliProcess* agent, const std::string& name) {
    const auto text = MetricsText(agent);
    std::smatch value;
    if (!text || !std::regex_search(*text, value, std::regex("\n" + name + " ([0-9.e+]+)")))
      return -1;
    return std::stod(value[1]);
  }
  void StopFirstStartCopyUnderWriteLoadAndResume(bool kill);
  // Ends the agent's COPY connection(s) of `table` (retried for 2 s: between two chunks
  // there is none); false when there was none to end.
  bool TerminateCopyOf(const std::string& table) {
    for (int i = 0; i < 200; ++i) {
      if (Value("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE query LIKE 'COPY (SELECT%" +
                table + "%'") != "0")
        return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }
  // Waits until the table's phase is `phases` or one of its '|'-separated alternatives
  // ("copied|ready": a phase passed through quickly is not waited for in vain).
  bool WaitPhase(const std::string& table, const std::string& phases,
                 std::chrono::seconds limit = 60s) {
    const std::string bar = "|" + phases + "|";
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      const std::string phase = SyncState(table).value("phase", "");
      if (!phase.empty() && bar.find("|" + phase + "|") != std::string::npos) return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }
};

constexpr const char* kTypedColumns =
    "b boolean, i2 smallint, i8 bigint, f4 real, f8 double precision, n numeric(10,3), "
    "nu numeric, m money, t text, vc varchar(20), c char(3), by bytea, j json, jb jsonb, d date, "
    "ts timestamp, tz timestamptz, tm time, iv interval, u uuid, ia integer[], ta text[], "
    "e mood, p posint, inet_c inet, big text";
constexpr const char* kTypedValues =
    "true, 2, 3000000000, 1.5, 'NaN', 12.345, 1e30, 12.34, 'text ü', 'vc', 'abc', '\\x00ff', "
    "'{\"a\": 1}', '{\"b\": [1, 2]}', '2024-02-29', '2024-01-01 12:34:56.789', "
    "'2024-01-01 12:34:56.789+02', '23:59:59', '1 day 02:00', "
    "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{1,2,3}', '{x,y}', 'happy', 7, '10.0.0.1/8', "
    "(SELECT string_agg(md5(i::text), '') FROM generate_series(1, 200) i)";

// First start: rows that exist before the slot are copied inside the slot's exported
// snapshot (every mapped type, a TOASTed value, a keyless table); changes after it stream
// and win; the copied rows are encoded exactly like streamed ones; states end `ready`.
TEST_F(RunSnapshotTest, FirstStartCopiesEveryTypeThenStreams) {
  Sql("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')");
  Sql("CREATE DOMAIN posint AS integer CHECK (VALUE > 0)");
  Sql(std::string("CREATE TABLE typed (id integer PRIMARY KEY, ") + kTypedColumns + ")");
  Sql("CREATE TABLE orders (id bigint PRIMARY KEY, customer text, amount numeric(12,2))");
  Sql("CREATE TABLE events (kind text, payload text)");  // no key: change log
  Sql("CREATE PUBLICATION snap FOR ALL TABLES");
  Sql(std::string("INSERT INTO typed VALUES (1, ") + kTypedValues + ")");
  Sql("INSERT INTO typed (id) VALUES (2)");
  Sql("INSERT INTO orders SELECT g, 'c' || g, g * 1.5 FROM generate_series(1, 20000) g");
  // Duplicate rows in a keyless table must stay distinct rows.
  Sql("INSERT INTO events SELECT 'k', 'same' FROM generate_series(1, 300)");

  auto agent = StartAgentAndWait();
  // After the snapshot: the same typed row streamed, and changes to copied rows.
  Sql(std::string("INSERT INTO typed VALUES (101, ") + kTypedValues + ")");
  Sql("UPDATE orders SET amount = -1 WHERE id <= 100");
  Sql("DELETE FROM orders WHERE id BETWEEN 101 AND 300");
  Sql("INSERT INTO orders VALUES (30000, 'new', 1)");
  Sql("INSERT INTO events VALUES ('k', 'after')");

  CliResult v = VerifyEventually();
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err << agent->ReadErr();
  EXPECT_NE(v.out.find("public.orders -> replica.orders: EQUAL"), std::string::npos) << v.out;
  auto typed = DumpLines("typed");
  ASSERT_EQ(typed.size(), 3u);
  // The copied row (binary COPY) and the streamed row (pgoutput text) are encoded alike.
  std::string copied = typed[0], streamed = typed[2];
  ASSERT_EQ(copied.rfind("{\"id\":\"1\",", 0), 0u) << copied;
  ASSERT_EQ(streamed.rfind("{\"id\":\"101\",", 0), 0u) << streamed;
  EXPECT_EQ(copied.substr(std::string("{\"id\":\"1\",").size()),
            streamed.substr(std::string("{\"id\":\"101\",").size()));
  EXPECT_NE(copied.find("\"e\":\"happy\""), std::string::npos) << copied;
  EXPECT_EQ(DumpLines("events").size(), 301u);
  EXPECT_EQ(DeadLetters(), "");
  EXPECT_TRUE(WaitPhase("public.orders", "ready")) << SyncState("public.orders").dump();
  EXPECT_TRUE(WaitPhase("public.events", "ready"));
  EXPECT_TRUE(WaitPhase("public.typed", "ready"));

  // Progress metrics of the copy, from the agent's /metrics.
  const auto metrics = MetricsText(agent.get());
  ASSERT_TRUE(metrics.has_value()) << agent->ReadErr();
  EXPECT_NE(metrics->find("pg2bq_snapshot_rows_copied{table=\"public.orders\"} 20000"),
            std::string::npos)
      << *metrics;
  EXPECT_NE(metrics->find("pg2bq_snapshot_eta_seconds{table=\"public.orders\"} 0"),
            std::string::npos);
  EXPECT_NE(metrics->find("pg2bq_snapshot_tables_copied_total 3"), std::string::npos);

  // A restart copies nothing again.
  StopAgent(agent);
  agent = StartAgentAndWait();
  Sql("INSERT INTO orders VALUES (30001, 'after restart', 2)");
  v = VerifyEventually();
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  StopAgent(agent);
  EXPECT_EQ(agent->ReadErr().find("snapshot public.orders: copied"), std::string::npos)
      << agent->ReadErr();
  EXPECT_EQ(DumpLines("events").size(), 301u);

  // `pg2bq snapshot` lists the states; `pg2bq status` shows them too.
  CliResult list = RunCli({"snapshot", "--config", config_}, 30s);
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("public.orders"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("ready"), std::string::npos) << list.out;
  CliResult status = RunCli({"status", "--config", config_}, 30s);
  EXPECT_NE(status.out.find("snapshot copies: 3"), std::string::npos) << status.out;
}

// A table added to the publication while the agent runs and a write workload runs on it:
// inserts, updates and deletes before, during and after its copy, with failing appends. It is
// copied at a temporary slot's snapshot; changes the copy contains are dropped, later ones applied.
TEST_F(RunSnapshotTest, TableAddedWhileRunningUnderWriteLoad) {
  Sql("CREATE TABLE base (id bigint PRIMARY KEY, v text)");
  Sql("CREATE TABLE added (id bigint PRIMARY KEY, v integer, note text)");
  Sql("CREATE TABLE added_log (v integer)");  // keyless
  Sql("CREATE PUBLICATION snap FOR TABLE base");
  Sql("INSERT INTO added SELECT g, g, 'pre' FROM generate_series(1, 100000) g");
  Sql("INSERT INTO added_log SELECT g FROM generate_series(1, 1000) g");
  auto agent = StartAgentAndWait();

  std::atomic<bool> stop{false};
  std::atomic<int> errors{0};
  std::thread writer([&] {
    auto session = pg_->Connect();
    if (!session.ok()) {
      ++errors;
      return;
    }
    std::mt19937 rng(42);
    for (long i = 0; !stop.load(); ++i) {
      const long id = 1 + static_cast<long>(rng() % 120000);
      std::string sql;
      switch (rng() % 4) {
        case 0:
          sql = "INSERT INTO added VALUES (" + std::to_string(id) +
                ", 0, 'ins') ON CONFLICT (id) "
                "DO UPDATE SET v = added.v + 1, note = 'upd-ins'";
          break;
        case 1:
          sql = "UPDATE added SET v = v + 1, note = 'upd' WHERE id = " + std::to_string(id);
          break;
        case 2:
          sql = "DELETE FROM added WHERE id = " + std::to_string(id);
          break;
        default:
          sql = "BEGIN; INSERT INTO base VALUES (" + std::to_string(100000 + i) +
                ", 'b') ON CONFLICT DO NOTHING; INSERT INTO added_log VALUES (" +
                std::to_string(i) + "); COMMIT";
      }
      if (!session->Exec(sql).ok()) ++errors;
    }
  });
  std::this_thread::sleep_for(1s);
  // Failing appends make the flush workers retry out of step, so a streamed DELETE would
  // overtake the copied row it deletes if the copy were not kept ahead of the stream.
  SetFaults(R"({"error_rates": {"AppendRows": {"UNAVAILABLE": 0.1}}})");
  Sql("ALTER PUBLICATION snap ADD TABLE added, added_log");
  std::this_thread::sleep_for(4s);
  stop.store(true);
  writer.join();
  SetFaults(R"({"error_rates": {"AppendRows": {"UNAVAILABLE": 0}}})");
  EXPECT_EQ(errors.load(), 0);

  CliResult v = VerifyEventually();
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err << agent->ReadErr();
  EXPECT_NE(v.out.find("public.added -> replica.added: EQUAL"), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("public.base -> replica.base: EQUAL"), std::string::npos) << v.out;
  EXPECT_TRUE(WaitPhase("public.added", "ready")) << SyncState("public.added").dump();
  // The keyless table: its copy plus every insert after the snapshot, each exactly once.
  EXPECT_EQ(std::to_string(DumpLines("added_log").size()), Value("SELECT count(*) FROM added_log"));
  EXPECT_EQ(DeadLetters(), "");
  StopAgent(agent);
}

// SIGKILL in the middle of a first-start copy: the restart finishes the copy at a new
// (temporary slot's) snapshot, copies only the chunks not yet done, and misses nothing
// committed meanwhile. Also `pg2bq snapshot --table` re-syncs a table on demand.
TEST_F(RunSnapshotTest, KillMidCopyResumesPerChunkThenResyncOnDemand) {
  WriteSnapshotConfig("chunk_size = 64KiB\n");
  Sql("CREATE TABLE big (id bigint PRIMARY KEY, pad text)");
  Sql("CREATE TABLE big_log (id bigint, pad text)");  // keyless
  Sql("CREATE PUBLICATION snap FOR ALL TABLES");
  Sql("INSERT INTO big SELECT g, repeat('x', 200) FROM generate_series(1, 200000) g");
  Sql("INSERT INTO big_log SELECT g, repeat('y', 200) FROM generate_series(1, 20000) g");

  auto agent = StartAgent(/*wait=*/false);
  // Kill once some, but not all, chunks of `big` are durably copied.
  std::size_t done_at_kill = 0, total = 0;
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto st = SyncState("public.big");
    if (st.contains("chunks")) {
      total = st["chunks"].size();
      done_at_kill = 0;
      for (const auto& c : st["chunks"])
        done_at_kill += c.value("done", false) ? 1 : 0;
      if (done_at_kill > 0) break;
    }
    std::this_thread::sleep_for(2ms);
  }
  agent->Signal(SIGKILL);
  agent->Wait(30s);
  ASSERT_GT(total, 4u);
  ASSERT_GT(done_at_kill, 0u);
  const auto at_kill = SyncState("public.big");
  std::size_t done_after_kill = 0;
  for (const auto& c : at_kill["chunks"])
    done_after_kill += c.value("done", false) ? 1 : 0;
  ASSERT_LT(done_after_kill, total) << "the copy finished before the kill";

  // Committed while the agent is down: some in copied chunks, some in chunks still to copy.
  Sql("UPDATE big SET pad = 'changed' WHERE id % 1000 = 0");
  Sql("DELETE FROM big WHERE id % 997 = 0");
  Sql("INSERT INTO big VALUES (500000, 'new')");
  Sql("INSERT INTO big_log VALUES (500000, 'new')");

  agent = StartAgentAndWait();
  CliResult v = VerifyEventually(120s);
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err << agent->ReadErr();
  const std::string log = agent->ReadErr();
  // The resumed run copied exactly the chunks that were not done.
  std::smatch m;
  ASSERT_TRUE(
      std::regex_search(log, m, std::regex("snapshot public\\.big: resuming, (\\d+)/(\\d+)")))
      << log;
  EXPECT_EQ(std::stoul(m[1]), done_after_kill);
  ASSERT_TRUE(std::regex_search(
      log, m,
      std::regex("snapshot public\\.big: copied (\\d+) rows .* (\\d+) chunk\\(s\\) this run")))
      << log;
  EXPECT_EQ(std::stoul(m[2]), total - done_after_kill);
  EXPECT_TRUE(WaitPhase("public.big", "ready"));
  // Keyless: a chunk copied again after the kill overwrote its rows (same _pg2bq_lsn).
  EXPECT_EQ(std::to_string(DumpLines("big_log").size()), Value("SELECT count(*) FROM big_log"));

  // Re-sync on demand while running: the target is rebuilt from a new snapshot.
  CliResult req = RunCli({"snapshot", "--config", config_, "--table", "public.big"}, 30s);
  EXPECT_EQ(req.exit_code, 0) << req.out << req.err;
  const std::string old_hold = SyncState("public.big").value("hold_from_lsn", "");
  const auto resync_deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < resync_deadline &&
         (SyncState("public.big").value("hold_from_lsn", "") == old_hold ||
          SyncState("public.big").value("phase", "") != "ready"))
    std::this_thread::sleep_for(100ms);
  EXPECT_NE(SyncState("public.big").value("hold_from_lsn", ""), old_hold);
  EXPECT_EQ(SyncState("public.big").value("phase", ""), "ready");
  Sql("DELETE FROM big WHERE id < 100");
  v = VerifyEventually();
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  CliResult bad = RunCli({"snapshot", "--config", config_, "--table", "public.nope"}, 30s);
  EXPECT_EQ(bad.exit_code, 1) << bad.out << bad.err;
  EXPECT_EQ(DeadLetters(), "");
  StopAgent(agent);
}

// SIGTERM during the first-start copy: a clean stop (exit 0) that keeps the copy's progress;
// the next start resumes it and the target ends equal.
TEST_F(RunSnapshotTest, SigtermMidCopyStopsCleanlyAndResumes) {
  WriteSnapshotConfig("chunk_size = 64KiB\n");
  Sql("CREATE TABLE big (id bigint PRIMARY KEY, pad text)");
  Sql("CREATE PUBLICATION snap FOR ALL TABLES");
  Sql("INSERT INTO big SELECT g, repeat('x', 200) FROM generate_series(1, 200000) g");
  auto agent = StartAgent(/*wait=*/false);
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto st = SyncState("public.big");
    if (st.contains("chunks") && !st["chunks"].empty() && st["chunks"][0].value("done", false))
      break;
    std::this_thread::sleep_for(2ms);
  }
  StopAgent(agent);
  const auto st = SyncState("public.big");
  ASSERT_EQ(st.value("phase", ""), "copying") << st.dump() << agent->ReadErr();
  Sql("UPDATE big SET pad = 'changed' WHERE id % 500 = 0");
  agent = StartAgentAndWait();
  CliResult v = VerifyEventually(120s);
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err << agent->ReadErr();
  EXPECT_NE(agent->ReadErr().find("snapshot public.big: resuming"), std::string::npos);
  EXPECT_TRUE(WaitPhase("public.big", "ready"));
  StopAgent(agent);
}

// SIGTERM (`kill` false) or SIGKILL during a first-start copy under write load (the copy
// runs in the slot's exported snapshot, its tables' changes held meanwhile): the next start
// resumes the copy at a newer snapshot and applies every change since the slot's snapshot
// behind it. Nothing lost or doubled, also for the keyless table copied before the stop.
void RunSnapshotTest::StopFirstStartCopyUnderWriteLoadAndResume(bool kill) {
  CreateFirstStartCopyTables();
  BackgroundLoad load(pg_.get());
  SetFaults(R"({"latency_ms": 300})");
  auto agent = StartAgent(/*wait=*/false);
  const bool copying =
      WaitPhase("public.big", "copying", 120s) && WaitPhase("public.big_log", "copied|ready", 60s);
  std::this_thread::sleep_for(500ms);
  const std::string phase = SyncState("public.big").value("phase", "");
  if (!copying || phase != "copying") {
    load.Stop();
    FAIL() << "big: " << phase << "; " << agent->ReadErr();
  }
  if (kill) {
    // The copied table's changes are on disk in its side spool when the agent dies.
    EXPECT_FALSE(HeldSpools().empty());
    agent->Signal(SIGKILL);
    agent->Wait(30s);
  } else {
    StopAgent(agent);
  }
  ASSERT_EQ(SyncState("public.big").value("phase", ""), "copying") << agent->ReadErr();
  const std::string first_run = agent->ReadErr();
  SetFaults(R"({"latency_ms": 0})");
  agent = StartAgentAndWait();
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(load.Stop(), 0);

  CliResult v = VerifyEventually(180s);
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err << first_run << agent->ReadErr();
  EXPECT_NE(v.out.find("public.big -> replica.big: EQUAL"), std::string::npos) << v.out;
  EXPECT_TRUE(WaitPhase("public.big", "ready")) << SyncState("public.big").dump();
  EXPECT_EQ(std::to_string(DumpLines("big_log").size()), Value("SELECT count(*) FROM big_log"));
  EXPECT_NE(agent->ReadErr().find("snapshot public.big: resuming"), std::string::npos)
      << agent->ReadErr();
  EXPECT_TRUE(HeldSpools().empty());
  EXPECT_EQ(DeadLetters(), "");
  StopAgent(agent);
}

TEST_F(RunSnapshotTest, SigtermDuringFirstStartCopyUnderWriteLoadLosesNothing) {
  StopFirstStartCopyUnderWriteLoadAndResume(/*kill=*/false);
}

TEST_F(RunSnapshotTest, KillDuringFirstStartCopyUnderWriteLoadLosesNothing) {
  StopFirstStartCopyUnderWriteLoadAndResume(/*kill=*/true);
}

// The first start's copy runs while the slot is read: the slot's confirmed position moves
// on and the copied table's changes are held in its side spool, so PostgreSQL keeps no WAL
// for the length of the copy. A table added to the publication meanwhile is not in the first
// start's list (read before the slot): its Relation message or the publication poll copies
// it once the first copy ended. Nothing is lost or doubled (keyless: exact count).
TEST_F(RunSnapshotTest, TableAddedDuringTheFirstStartCopyIsCopiedWhileStreaming) {
  WriteSlowCopyConfig();
  CreateHeldCopyTables(1000);
  Sql("ALTER PUBLICATION snap ADD TABLE big");
  BackgroundLoad load(pg_.get());
  SetFaults(R"({"latency_ms": 300})");
  auto agent = StartAgent(/*wait=*/false);
  ASSERT_TRUE(WaitPhase("public.big", "copying", 120s)) << agent->ReadErr();
  ASSERT_TRUE(WaitStreaming(60s)) << agent->ReadErr();
  const std::string flush_query =
      "SELECT confirmed_flush_lsn - '0/0'::pg_lsn FROM pg_replication_slots WHERE slot_name = "
      "'" +
      slot_ + "'";
  const long flushed_first = std::stol(Value(flush_query));
  Sql("ALTER PUBLICATION snap ADD TABLE big_log");
  // Still the first start's copy, and the slot is read on: its position moves past the
  // writes made since, which are held for `big` meanwhile.
  const long wal_now = std::stol(Value("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"));
  long flushed = flushed_first;
  for (int i = 0; i < 600 && flushed < wal_now; ++i) {
    std::this_thread::sleep_for(100ms);
    flushed = std::stol(Value(flush_query));
  }
  EXPECT_GE(flushed, wal_now) << agent->ReadErr();
  EXPECT_EQ(SyncState("public.big").value("phase", ""), "copying");
  EXPECT_GT(TotalBytes(HeldSpools()), 0u);
  SetFaults(R"({"latency_ms": 0})");
  ASSERT_TRUE(WaitPhase("public.big_log", "copied|ready", 180s)) << agent->ReadErr();
  std::this_thread::sleep_for(1s);  // changes of both tables after the second copy
  EXPECT_EQ(load.Stop(), 0);

  CliResult v = VerifyEventually(180s);
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err << agent->ReadErr();
  EXPECT_NE(v.out.find("public.big -> replica.big: EQUAL"), std::string::npos) << v.out;
  EXPECT_EQ(std::to_string(DumpLines("big_log").size()), Value("SELECT count(*) FROM big_log"));
  EXPECT_NE(agent->ReadErr().find("to copy while streaming"), std::string::npos)
      << agent->ReadErr();
  EXPECT_TRUE(WaitPhase("public.big_log", "ready")) << SyncState("public.big_log").dump();
  EXPECT_EQ(DeadLetters(), "");
  StopAgent(agent);
}

// A copy that cannot start while streaming (no free replication slot for its temporary
// slot) is not fatal: the agent keeps replicating the other tables, logs the error, and
// copies the table at a later poll once a slot is free.
TEST_F(RunSnapshotTest, CopyFailureWhileStreamingIsRetried) {
  Sql("CREATE TABLE base (id bigint PRIMARY KEY, v text)");
  Sql("CREATE TABLE added (id bigint PRIMARY KEY, v text)");
  Sql("CREATE PUBLICATION snap FOR TABLE base");
  Sql("INSERT INTO added SELECT g, 'pre' FROM generate_series(1, 1000) g");
  auto agent = StartAgentAndWait();
  // Take every free slot.
  const int free_slots =
      std::stoi(Value("SELECT current_setting('max_replication_slots')::int - "
                      "count(*) FROM pg_replication_slots"));
  for (int i = 0; i < free_slots; ++i)
    Sql("SELECT pg_create_physical_replication_slot('filler_" + std::to_string(i) + "')");
  Sql("ALTER PUBLICATION snap ADD TABLE added");
  Sql("UPDATE added SET v = 'changed' WHERE id <= 10");
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline &&
         agent->ReadErr().find("snapshot while streaming:") == std::string::npos)
    std::this_thread::sleep_for(100ms);
  ASSERT_NE(agent->ReadErr().find("snapshot while streaming:"), std::string::npos)
      << agent->ReadErr();
  // The other table keeps flowing meanwhile.
  Sql("INSERT INTO base VALUES (1, 'during')");
  const auto flow_deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < flow_deadline &&
         !emulator_->Dump("proj.replica.base").ok())
    std::this_thread::sleep_for(100ms);
  EXPECT_EQ(DumpLines("base").size(), 1u);
  Sql("SELECT pg_drop_replication_slot('filler_0')");
  Sql("DELETE FROM added WHERE id > 990");
  CliResult v = VerifyEventually();
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err << agent->ReadErr();
  EXPECT_NE(v.out.find("public.added -> replica.added: EQUAL"), std::string::npos) << v.out;
  EXPECT_TRUE(WaitPhase("public.added", "ready"));
  StopAgent(agent);
}

// snapshot.initial = skip: rows that exist before the slot are not copied, and no state is
// written; later changes still arrive.
// A PostgreSQL 15 publication with a column list and a row filter: the copy takes the same
// columns and rows as pgoutput streams, both at first start and for a table added later,
// and verify compares just those.
TEST_F(RunSnapshotTest, PublicationColumnListAndRowFilterApplyToTheCopy) {
  WriteSnapshotConfig("");
  Sql("CREATE TABLE f (id bigint PRIMARY KEY, a text, secret text)");
  Sql("CREATE TABLE g (id bigint PRIMARY KEY, b text, secret text)");
  Sql("INSERT INTO f SELECT i, 'a' || i, 'hidden' || i FROM generate_series(1, 100) i");
  Sql("INSERT INTO g SELECT i, 'b' || i, 'hidden' || i FROM generate_series(1, 100) i");
  Sql("CREATE PUBLICATION snap FOR TABLE f (id, a) WHERE (id % 2 = 0)");
  auto agent = StartAgentAndWait();
  Sql("INSERT INTO f SELECT i, 'a' || i, 'hidden' FROM generate_series(101, 110) i");
  Sql("UPDATE f SET a = 'changed' WHERE id IN (2, 3)");
  Sql("ALTER PUBLICATION snap ADD TABLE g (id, b) WHERE (id <= 10)");
  Sql("INSERT INTO g VALUES (5000, 'late', 'hidden')");  // filtered out
  CliResult v = VerifyEventually();
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_NE(v.out.find("public.f -> replica.f: EQUAL (source 55 rows"), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("public.g -> replica.g: EQUAL (source 10 rows"), std::string::npos) << v.out;
  for (const char* t : {"f", "g"}) {
    const auto lines = DumpLines(t);
    for (const auto& line : lines)
      EXPECT_EQ(line.find("hidden"), std::string::npos) << "unpublished column copied: " << line;
  }
  EXPECT_EQ(DumpLines("f").size(), 55u);
  EXPECT_EQ(DumpLines("g").size(), 10u);
  StopAgent(agent);
}

TEST_F(RunSnapshotTest, InitialSkipCopiesNothing) {
  WriteSnapshotConfig("initial = skip\n");
  Sql("CREATE TABLE t (id bigint PRIMARY KEY, v text)");
  Sql("CREATE PUBLICATION snap FOR ALL TABLES");
  Sql("INSERT INTO t SELECT g, 'pre' FROM generate_series(1, 100) g");
  auto agent = StartAgentAndWait();
  Sql("INSERT INTO t VALUES (1000, 'after')");
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < deadline && !emulator_->Dump("proj.replica.t").ok())
    std::this_thread::sleep_for(200ms);
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(DumpLines("t").size(), 1u);
  EXPECT_TRUE(SyncState("public.t").empty());
  StopAgent(agent);
}

// A copy made while streaming holds the reader (the slot is not read meanwhile). Here it
// waits on a full spool during an outage for longer than wal_sender_timeout: the reader's
// status updates keep the replication connection, and the table ends equal.
TEST_F(RunSnapshotTest, LongCopyWhileStreamingKeepsTheReplicationConnection) {
  WriteConfig(
      "[spool]\nbudget = 2MiB\nsegment_size = 1MiB\n"
      "[snapshot]\nworkers = 2\npoll_interval = 500ms\n");
  Sql("ALTER SYSTEM SET wal_sender_timeout = '10s'");
  Sql("SELECT pg_reload_conf()");
  Sql("CREATE TABLE first (id int PRIMARY KEY)");
  Sql("CREATE PUBLICATION snap FOR TABLE first");
  auto agent = StartAgentAndWait();
  Sql("CREATE TABLE big (id bigint PRIMARY KEY, v text)");
  Sql("INSERT INTO big SELECT g, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) "
      "FROM generate_series(1, 60000) g");
  SetFaults(R"({"outage": true})");
  Sql("ALTER PUBLICATION snap ADD TABLE big");
  bool copying = false;
  for (int i = 0; i < 300 && !copying; ++i) {
    copying = agent->ReadErr().find("to copy while streaming") != std::string::npos;
    if (!copying) std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(copying) << agent->ReadErr();
  std::this_thread::sleep_for(15s);  // the copy waits for spool space: well past the timeout
  SetFaults(R"({"outage": false})");
  CliResult v = VerifyEventually(180s);
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_NE(v.out.find("public.big -> replica.big: EQUAL (source 60000 rows"), std::string::npos)
      << v.out;
  EXPECT_EQ(agent->ReadErr().find("replication resumed at"), std::string::npos)
      << "the walsender dropped the connection during the copy:\n"
      << agent->ReadErr();
  StopAgent(agent);
}

// A table added while streaming is copied beside the stream: another table's new rows reach
// BigQuery while the copy is still running (the slot keeps being read), and the copied
// table's own changes during the copy -- inserts, updates and deletes straddling its
// snapshot -- are held on disk and applied behind the copy: keyed table equal, keyless table
// exactly as many rows as the source.
TEST_F(RunSnapshotTest, OtherTablesFlowWhileATableIsCopiedAndItsChangesAreHeld) {
  WriteSlowCopyConfig();
  CreateHeldCopyTables(20000);
  auto agent = StartAgentAndWait();
  Sql("INSERT INTO other VALUES (0, 'before')");
  SetFaults(R"({"latency_ms": 150})");

  BackgroundLoad load(pg_.get());
  std::this_thread::sleep_for(500ms);
  Sql("ALTER PUBLICATION snap ADD TABLE big, big_log");
  ASSERT_TRUE(WaitPhase("public.big", "copying", 60s)) << agent->ReadErr();
  Sql("INSERT INTO other SELECT g, 'during the copy' FROM generate_series(1, 100) g");
  // The other table's rows are acknowledged by the emulator while `big` is still copying.
  std::string phase_when_acked;
  std::size_t other_rows = 0;
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string phase = SyncState("public.big").value("phase", "");
    auto out = emulator_->Dump("proj.replica.other");
    other_rows =
        out.ok() ? static_cast<std::size_t>(std::count(out->begin(), out->end(), '\n')) : 0;
    if (other_rows == 101) {
      phase_when_acked = phase;  // read before the dump: the copy was running at least until then
      break;
    }
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(other_rows, 101u);
  EXPECT_EQ(phase_when_acked, "copying")
      << "the other table's rows reached BigQuery only after the copy";
  // Meanwhile big's changes are held on disk, not in the spool; big_log (one chunk, copied
  // before big) streams again already.
  const auto held = HeldSpools();
  const std::string big_held = HeldSpoolPrefix("public.big");
  ASSERT_TRUE(HoldsOnly(held, big_held))
      << held.size() << " side spool(s), first " << (held.empty() ? "" : held.begin()->first);
  EXPECT_GT(TotalBytes(held), 0u);
  EXPECT_GT(MetricValue(agent.get(), "pg2bq_snapshot_held_bytes"), 0) << agent->ReadErr();
  const long writes_during = load.writes();
  ASSERT_TRUE(WaitPhase("public.big", "copied|ready", 180s)) << agent->ReadErr();
  std::this_thread::sleep_for(1s);  // a few changes after the copy, applied directly
  EXPECT_EQ(load.Stop(), 0);
  EXPECT_GT(writes_during, 0);
  SetFaults(R"({"latency_ms": 0})");

  // Under ASan the agent is still catching up here: a run had 18.8 MB of WAL to read and
  // each verify took 75-100 s; it was EQUAL after 267 s of verifying.
  CliResult v = VerifyEventually(480s);
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err << agent->ReadErr();
  EXPECT_NE(v.out.find("public.big -> replica.big: EQUAL"), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("public.other -> replica.other: EQUAL"), std::string::npos) << v.out;
  EXPECT_TRUE(WaitPhase("public.big", "ready")) << SyncState("public.big").dump();
  EXPECT_TRUE(WaitPhase("public.big_log", "ready")) << SyncState("public.big_log").dump();
  EXPECT_EQ(std::to_string(DumpLines("big_log").size()), Value("SELECT count(*) FROM big_log"));
  EXPECT_TRUE(HeldSpools().empty());
  EXPECT_NE(agent->ReadErr().find("held record(s)"), std::string::npos) << agent->ReadErr();
  EXPECT_EQ(DeadLetters(), "");
  StopAgent(agent);
}

// SIGKILL while a table's changes are held beside its copy: the restart finishes the copy
// (per chunk, at a newer snapshot), appends the held changes behind it, then streams on;
// nothing is lost or doubled (keyless count exact).
TEST_F(RunSnapshotTest, KillWhileChangesAreHeldRestartAppliesThemBehindTheCopy) {
  WriteSlowCopyConfig();
  CreateHeldCopyTables(20000);
  auto agent = StartAgentAndWait();
  SetFaults(R"({"latency_ms": 150})");
  BackgroundLoad load(pg_.get());
  Sql("ALTER PUBLICATION snap ADD TABLE big, big_log");
  ASSERT_TRUE(WaitPhase("public.big", "copying", 60s)) << agent->ReadErr();
  // The keyless table (one chunk, copied first) is copied: its copy is not resumed at a newer
  // snapshot after the kill (see "Keyless (change-log) tables" in docs/SNAPSHOT.md).
  ASSERT_TRUE(WaitPhase("public.big_log", "copied|ready", 60s));
  // Kill once big's held changes are on disk and big_log streams again (its side spool
  // replayed behind its copy), while big's copy still runs. (A side spool of a finished copy
  // that outlives a crash: TableSyncRestartTest.)
  const std::string big_held = HeldSpoolPrefix("public.big");
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  std::map<std::string, std::uintmax_t> held;
  while (std::chrono::steady_clock::now() < deadline) {
    held = HeldSpools();
    if (HoldsOnly(held, big_held) && held.begin()->second > 1024) break;
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(SyncState("public.big").value("phase", ""), "copying");
  agent->Signal(SIGKILL);
  agent->Wait(30s);
  ASSERT_EQ(held.size(), 1u);
  ASSERT_EQ(HeldSpools().size(), 1u);
  CliResult status = RunCli({"status", "--config", config_}, 30s);
  EXPECT_NE(status.out.find("held changes: 1 side spool(s)"), std::string::npos) << status.out;
  std::this_thread::sleep_for(1s);  // changes while the agent is down
  SetFaults(R"({"latency_ms": 0})");
  agent = StartAgentAndWait();
  std::this_thread::sleep_for(1s);  // and after the restart
  EXPECT_EQ(load.Stop(), 0);
  Sql("INSERT INTO other VALUES (1, 'after')");

  CliResult v = VerifyEventually(180s);
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err << agent->ReadErr();
  EXPECT_NE(v.out.find("public.big -> replica.big: EQUAL"), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("public.other -> replica.other: EQUAL"), std::string::npos) << v.out;
  EXPECT_TRUE(WaitPhase("public.big", "ready")) << SyncState("public.big").dump();
  EXPECT_EQ(std::to_string(DumpLines("big_log").size()), Value("SELECT count(*) FROM big_log"));
  EXPECT_TRUE(HeldSpools().empty());
  EXPECT_NE(agent->ReadErr().find("held record(s)"), std::string::npos) << agent->ReadErr();
  EXPECT_EQ(DeadLetters(), "");
  StopAgent(agent);
}

// A copy that fails part way while streaming (its COPY connection is terminated) keeps its
// table held: the retry at the next poll resumes the chunks not done at a newer snapshot,
// and the changes since the first snapshot -- also those to rows of chunks already copied --
// come from the side spool. The target ends equal.
TEST_F(RunSnapshotTest, CopyFailingPartWayKeepsTheTableHeldAndResumes) {
  WriteConfig(
      "[spool]\nbudget = 2MiB\nsegment_size = 1MiB\n[flush]\nbatch_max_bytes = 16KiB\n"
      "[snapshot]\nworkers = 1\npoll_interval = 500ms\nchunk_size = 1MiB\n");
  CreateHeldCopyTables(1000);
  auto agent = StartAgentAndWait();
  SetFaults(R"({"latency_ms": 150})");
  BackgroundLoad load(pg_.get());
  Sql("ALTER PUBLICATION snap ADD TABLE big, big_log");
  // Once some chunks of `big` are done, end its COPY connection.
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  std::size_t done = 0;
  while (std::chrono::steady_clock::now() < deadline && done == 0) {
    auto st = SyncState("public.big");
    if (st.contains("chunks"))
      for (const auto& c : st["chunks"])
        done += c.value("done", false) ? 1 : 0;
    if (done == 0) std::this_thread::sleep_for(20ms);
  }
  ASSERT_GT(done, 0u);
  const auto held_before = HeldSpools();
  const std::string hold_before = SyncState("public.big").value("hold_from_lsn", "");
  ASSERT_TRUE(TerminateCopyOf("big")) << agent->ReadErr();
  const auto fail_deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < fail_deadline &&
         agent->ReadErr().find("snapshot while streaming:") == std::string::npos)
    std::this_thread::sleep_for(50ms);
  ASSERT_NE(agent->ReadErr().find("snapshot while streaming:"), std::string::npos)
      << agent->ReadErr();
  // Still held, by the same side spool; the retry resumes the copy.
  std::string big_held;
  for (const auto& [name, bytes] : held_before)
    if (name.rfind("held-" + Value("SELECT 'big'::regclass::oid") + "-", 0) == 0) big_held = name;
  ASSERT_FALSE(big_held.empty());
  EXPECT_EQ(HeldSpools().count(big_held), 1u);
  SetFaults(R"({"latency_ms": 0})");  // the rest of the copy at full speed
  ASSERT_TRUE(WaitPhase("public.big", "copied|ready", 180s)) << agent->ReadErr();
  EXPECT_NE(agent->ReadErr().find("snapshot public.big: resuming"), std::string::npos)
      << agent->ReadErr();
  EXPECT_EQ(SyncState("public.big").value("hold_from_lsn", ""), hold_before);
  EXPECT_EQ(load.Stop(), 0);
  SetFaults(R"({"latency_ms": 0})");

  CliResult v = VerifyEventually(180s);
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err << agent->ReadErr();
  EXPECT_NE(v.out.find("public.big -> replica.big: EQUAL"), std::string::npos) << v.out;
  EXPECT_TRUE(WaitPhase("public.big", "ready")) << SyncState("public.big").dump();
  EXPECT_EQ(std::to_string(DumpLines("big_log").size()), Value("SELECT count(*) FROM big_log"));
  EXPECT_TRUE(HeldSpools().empty());
  EXPECT_EQ(DeadLetters(), "");
  StopAgent(agent);
}

// SIGTERM while a table is copied beside the stream: a clean stop (exit 0) that keeps the
// copy's progress and the held changes on disk; the next start finishes the copy, appends
// the held changes behind it, and the target ends equal.
TEST_F(RunSnapshotTest, SigtermWhileChangesAreHeldStopsCleanlyAndResumes) {
  WriteSlowCopyConfig();
  CreateHeldCopyTables(1000);
  auto agent = StartAgentAndWait();
  // Slow enough that `big` is still being copied when the signal comes, on a quiet machine
  // too (at 150 ms the copy sometimes finished first).
  SetFaults(R"({"latency_ms": 600})");
  BackgroundLoad load(pg_.get());
  Sql("ALTER PUBLICATION snap ADD TABLE big, big_log");
  const bool started =
      WaitPhase("public.big", "copying", 60s) && WaitPhase("public.big_log", "copied|ready", 60s);
  std::this_thread::sleep_for(500ms);  // some changes of big are held
  const std::string phase = SyncState("public.big").value("phase", "");
  if (!started || phase != "copying") {
    load.Stop();
    FAIL() << "big: " << phase << "; " << agent->ReadErr();
  }
  StopAgent(agent);  // SIGTERM, exit 0
  const std::string first_run = agent->ReadErr();
  EXPECT_EQ(SyncState("public.big").value("phase", ""), "copying") << first_run;
  EXPECT_FALSE(HeldSpools().empty()) << first_run;
  SetFaults(R"({"latency_ms": 0})");
  agent = StartAgentAndWait();
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(load.Stop(), 0);

  CliResult v = VerifyEventually(180s);
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err << agent->ReadErr();
  EXPECT_NE(v.out.find("public.big -> replica.big: EQUAL"), std::string::npos) << v.out;
  EXPECT_TRUE(WaitPhase("public.big", "ready")) << SyncState("public.big").dump();
  EXPECT_EQ(std::to_string(DumpLines("big_log").size()), Value("SELECT count(*) FROM big_log"));
  EXPECT_TRUE(HeldSpools().empty());
  EXPECT_NE(agent->ReadErr().find("snapshot public.big: resuming"), std::string::npos)
      << agent->ReadErr();
  StopAgent(agent);
}

// The tables of one copy are released one by one: the small keyless table, copied first,
// streams again -- its side spool replayed behind its copy and removed, its changes made
// during the copy in BigQuery -- while the large table of the same first-start copy is still
// being copied and held.
TEST_F(RunSnapshotTest, EachTableOfAFirstStartCopyStreamsAgainWhenItsOwnCopyEnds) {
  CreateFirstStartCopyTables();
  BackgroundLoad load(pg_.get());
  SetFaults(R"({"latency_ms": 300})");
  auto agent = StartAgent(/*wait=*/false);
  ASSERT_TRUE(WaitPhase("public.big", "copying", 120s)) << agent->ReadErr();
  const std::string big_held = HeldSpoolPrefix("public.big");
  bool only_big_held = false;
  std::size_t log_rows = 0;
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (std::chrono::steady_clock::now() < deadline) {
    const auto spools = HeldSpools();
    only_big_held = HoldsOnly(spools, big_held);
    log_rows = DumpLines("big_log").size();
    if (only_big_held && log_rows > 1000) break;
    std::this_thread::sleep_for(200ms);
  }
  // Both seen while big is still being copied.
  EXPECT_EQ(SyncState("public.big").value("phase", ""), "copying") << agent->ReadErr();
  EXPECT_TRUE(only_big_held) << agent->ReadErr();
  EXPECT_GT(log_rows, 1000u) << "big_log's changes made during the copy are not in BigQuery";
  SetFaults(R"({"latency_ms": 0})");
  ASSERT_TRUE(WaitPhase("public.big", "copied|ready", 180s)) << agent->ReadErr();
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(load.Stop(), 0);

  CliResult v = VerifyEventually(180s);
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err << agent->ReadErr();
  EXPECT_NE(v.out.find("public.big -> replica.big: EQUAL"), std::string::npos) << v.out;
  EXPECT_EQ(std::to_string(DumpLines("big_log").size()), Value("SELECT count(*) FROM big_log"));
  EXPECT_TRUE(HeldSpools().empty());
  EXPECT_EQ(DeadLetters(), "");
  StopAgent(agent);
}

// snapshot.held_budget: once the changes held for a table being copied use their budget, the
// agent stops reading the slot (PostgreSQL keeps the WAL) until the copy ends and the held
// changes move to the spool; then it reads on. The side spools stay near the budget, and
// nothing is lost or doubled.
TEST_F(RunSnapshotTest, HeldBudgetPausesReadingWhileChangesAreHeld) {
  constexpr std::uintmax_t kBudget = 64 << 10;
  WriteSlowCopyConfig("held_budget = 64KiB\n");
  CreateHeldCopyTables(20000);
  auto agent = StartAgentAndWait();
  SetFaults(R"({"latency_ms": 150})");
  BackgroundLoad load(pg_.get());
  std::this_thread::sleep_for(500ms);
  Sql("ALTER PUBLICATION snap ADD TABLE big, big_log");
  ASSERT_TRUE(WaitPhase("public.big", "copying", 60s)) << agent->ReadErr();
  std::uintmax_t max_held = 0;
  bool paused = false;
  const auto deadline = std::chrono::steady_clock::now() + 180s;
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string phase = SyncState("public.big").value("phase", "");
    max_held = std::max(max_held, TotalBytes(HeldSpools()));
    if (!paused && MetricValue(agent.get(), "pg2bq_snapshot_held_budget_paused") == 1) {
      paused = true;
      EXPECT_NE(agent->ReadErr().find("reached snapshot.held_budget"), std::string::npos);
    }
    if (phase == "copied" || phase == "ready") break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(paused) << agent->ReadErr();
  // Reading pauses at the first commit after a group append reached it: one group (16 KiB
  // here) and one small transaction past it at most.
  // (Without the budget this load holds ~700 KB during the copy.)
  EXPECT_LT(max_held, kBudget + (64 << 10));
  EXPECT_GT(max_held, 0u);
  ASSERT_TRUE(WaitPhase("public.big", "copied|ready", 180s)) << agent->ReadErr();
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(load.Stop(), 0);
  SetFaults(R"({"latency_ms": 0})");

  CliResult v = VerifyEventually(180s);
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err << agent->ReadErr();
  EXPECT_NE(v.out.find("public.big -> replica.big: EQUAL"), std::string::npos) << v.out;
  EXPECT_EQ(std::to_string(DumpLines("big_log").size()), Value("SELECT count(*) FROM big_log"));
  EXPECT_NE(agent->ReadErr().find("reading resumed"), std::string::npos) << agent->ReadErr();
  EXPECT_EQ(MetricValue(agent.get(), "pg2bq_snapshot_held_budget_paused"), 0);
  EXPECT_EQ(DeadLetters(), "");
  StopAgent(agent);
}

// A re-sync makes the target equal also where the stream cannot: rows whose deletes never
// reached the agent (the slot is advanced past them while it is stopped) are removed by the
// TRUNCATE before the copy. And a column added with no row change since reaches the target
// first with that TRUNCATE, whose descriptor is the first to have it.
TEST_F(RunSnapshotTest, ResyncRemovesRowsTheSourceNoLongerHasAfterAColumnWasAdded) {
  Sql("CREATE TABLE t (id bigint PRIMARY KEY, v text)");
  Sql("CREATE PUBLICATION snap FOR TABLE t");
  Sql("INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 1000) g");
  auto agent = StartAgentAndWait();
  ASSERT_TRUE(WaitPhase("public.t", "ready")) << agent->ReadErr();
  StopAgent(agent);
  Sql("DELETE FROM t WHERE id > 900");
  Sql("SELECT pg_replication_slot_advance('snap', pg_current_wal_lsn())");
  Sql("ALTER TABLE t ADD COLUMN c integer DEFAULT 7");
  agent = StartAgentAndWait();
  const std::string old_hold = SyncState("public.t").value("hold_from_lsn", "");
  CliResult req = RunCli({"snapshot", "--config", config_, "--table", "public.t"}, 30s);
  ASSERT_EQ(req.exit_code, 0) << req.out << req.err;
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (std::chrono::steady_clock::now() < deadline &&
         (SyncState("public.t").value("hold_from_lsn", "") == old_hold ||
          SyncState("public.t").value("phase", "") != "ready"))
    std::this_thread::sleep_for(100ms);
  ASSERT_EQ(SyncState("public.t").value("phase", ""), "ready") << agent->ReadErr();
  CliResult v = VerifyEventually();
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err << agent->ReadErr();
  EXPECT_NE(v.out.find("public.t -> replica.t: EQUAL (source 900 rows, target 900 rows"),
            std::string::npos)
      << v.out;
  EXPECT_NE(agent->ReadErr().find("1000 key(s) from before the copy of public.t deleted"),
            std::string::npos)
      << agent->ReadErr();
  EXPECT_EQ(DeadLetters(), "");
  StopAgent(agent);
}

// A held table whose copy fails after it left the publication gets no retry: at the next
// poll its side spool is deleted and its hold ends, which also ends a pause at
// snapshot.held_budget (before, both lasted until a restart, with the slot not read and
// PostgreSQL keeping the WAL). Published again, it is copied afresh and ends equal.
TEST_F(RunSnapshotTest, HeldTableThatLeftThePublicationIsReleasedWhenItsCopyFails) {
  WriteSlowCopyConfig("held_budget = 64KiB\n");
  CreateHeldCopyTables(1000);
  auto agent = StartAgentAndWait();
  SetFaults(R"({"latency_ms": 150})");
  BackgroundLoad load(pg_.get());
  Sql("ALTER PUBLICATION snap ADD TABLE big");
  ASSERT_TRUE(WaitPhase("public.big", "copying", 60s)) << agent->ReadErr();
  const auto pause_deadline = std::chrono::steady_clock::now() + 120s;
  while (std::chrono::steady_clock::now() < pause_deadline &&
         MetricValue(agent.get(), "pg2bq_snapshot_held_budget_paused") != 1)
    std::this_thread::sleep_for(20ms);
  ASSERT_EQ(MetricValue(agent.get(), "pg2bq_snapshot_held_budget_paused"), 1) << agent->ReadErr();
  ASSERT_TRUE(HoldsOnly(HeldSpools(), HeldSpoolPrefix("big")));

  Sql("ALTER PUBLICATION snap DROP TABLE big");
  ASSERT_TRUE(TerminateCopyOf("big")) << agent->ReadErr();
  const auto release_deadline = std::chrono::steady_clock::now() + 60s;
  while (
      std::chrono::steady_clock::now() < release_deadline &&
      (!HeldSpools().empty() || MetricValue(agent.get(), "pg2bq_snapshot_held_budget_paused") != 0))
    std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(HeldSpools().empty()) << agent->ReadErr();
  EXPECT_EQ(MetricValue(agent.get(), "pg2bq_snapshot_held_budget_paused"), 0) << agent->ReadErr();
  EXPECT_NE(agent->ReadErr().find("snapshot public.big: no longer a selected table of publication "
                                  "snap and its copy did not finish"),
            std::string::npos)
      << agent->ReadErr();
  EXPECT_TRUE(SyncState("public.big").empty()) << SyncState("public.big").dump();
  EXPECT_EQ(load.Stop(), 0);

  // Reading resumed: the published table flows.
  Sql("INSERT INTO other VALUES (1, 'after the release')");
  const auto flow_deadline = std::chrono::steady_clock::now() + 60s;
  auto flowed = [&] {
    auto d = emulator_->Dump("proj.replica.other");
    return d.ok() && d->find("after the release") != std::string::npos;
  };
  while (std::chrono::steady_clock::now() < flow_deadline && !flowed())
    std::this_thread::sleep_for(100ms);
  EXPECT_EQ(DumpLines("other").size(), 1u) << agent->ReadErr();

  SetFaults(R"({"latency_ms": 0})");
  Sql("ALTER PUBLICATION snap ADD TABLE big");
  ASSERT_TRUE(WaitPhase("public.big", "ready", 180s)) << agent->ReadErr();
  CliResult v = VerifyEventually(180s);
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err << agent->ReadErr();
  EXPECT_NE(v.out.find("public.big -> replica.big: EQUAL"), std::string::npos) << v.out;
  EXPECT_EQ(DeadLetters(), "");
  StopAgent(agent);
}

}  // namespace
}  // namespace pg2bq::testing
