// `pg2bq run` end to end: real PostgreSQL 15 -> pg2bq (real executable) -> bq-emulator,
// judged by `pg2bq verify` (and the emulator's dump) against the source.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>

#include "tests/e2e/agent_fixture.h"

namespace pg2bq::testing {
namespace {

using namespace std::chrono_literals;

class RunE2eTest : public AgentFixture {
 protected:
  RunE2eTest() : AgentFixture("e2e") {}

  // WAL the slot retains: pg_current_wal_lsn() - confirmed_flush_lsn.
  long long RetainedWal() {
    auto v = pg_->QueryValue(
        "SELECT pg_current_wal_lsn() - confirmed_flush_lsn FROM pg_replication_slots "
        "WHERE slot_name = 'e2e'");
    return v.ok() ? std::stoll(*v) : -1;
  }
  // Waits (up to 10 s) until the slot has confirmed a position beyond `lsn`.
  bool ConfirmedPast(const std::string& lsn) {
    for (int i = 0; i < 100; ++i) {
      auto c = pg_->QueryValue("SELECT confirmed_flush_lsn > '" + lsn +
                               "'::pg_lsn FROM pg_replication_slots WHERE slot_name = 'e2e'");
      if (c.ok() && *c == "t") return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }
  // Table docs (3 rows, each with a TOASTed body), published, and the agent streaming it.
  std::unique_ptr<CliProcess> StartAgentWithToastedDocs() {
    Sql("CREATE TABLE docs (id bigint PRIMARY KEY, rev integer, body text)");
    Sql("CREATE PUBLICATION e2e FOR ALL TABLES");
    auto agent = StartAgent();
    Sql("INSERT INTO docs SELECT g, 0, (SELECT string_agg(md5((i + g)::text), '') FROM "
        "generate_series(1, 150) i) FROM generate_series(1, 3) g");
    return agent;
  }
  // Synchronous replication to a standby that never connects: from now on a commit is
  // flushed (so decoded) but waits, invisible to other sessions, until this is reset.
  void HoldCommitsInvisible() {
    Sql("ALTER SYSTEM SET synchronous_standby_names = 'nobody'");
    Sql("SELECT pg_reload_conf()");
  }
  std::uint64_t SpoolBytes() {
    std::uint64_t total = 0;
    std::error_code ec;
    for (const auto& e :
         std::filesystem::recursive_directory_iterator(dir_.path() + "/state/spool", ec))
      if (e.is_regular_file()) total += e.file_size();
    return total;
  }
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
  // Key change of a row with an unchanged TOASTed value, and the row deleted before the
  // agent reads the change (it is stopped): the old key must still be deleted.
  StopAgent(agent);
  Sql("UPDATE orders SET id = 55555 WHERE id = 5");  // note is TOASTed and unchanged
  Sql("DELETE FROM orders WHERE id = 55555");
  Sql("UPDATE orders SET id = 66666 WHERE id = 6");
  Sql("UPDATE orders SET id = 66667 WHERE id = 66666");
  agent = StartAgent();
  v = VerifyEventually();
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  // A difference is reported (and verify fails) once the target is behind.
  StopAgent(agent);
  CliResult status = RunCli({"status", "--config", config_}, 60s);
  EXPECT_EQ(status.exit_code, 0) << status.out << status.err;
  EXPECT_NE(status.out.find("tables: 2"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("dead letters: 0"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("slot e2e: inactive"), std::string::npos) << status.out;
  Sql("INSERT INTO orders VALUES (777777, 'late', 1, NULL, 1, false)");
  CliResult diff = RunCli({"verify", "--config", config_}, 60s);
  EXPECT_EQ(diff.exit_code, 1) << diff.out;
  EXPECT_NE(diff.out.find("missing (777777)"), std::string::npos) << diff.out;
  // Restarting picks up exactly where it stopped.
  agent = StartAgent();
  v = VerifyEventually();
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  StopAgent(agent);
}

// TRUNCATE deletes the target's keys read back from tabledata.list: keys of time and float
// types must come back in a form that encodes to the very same key.
TEST_F(RunE2eTest, TruncateDeletesKeysOfTimeAndFloatTypes) {
  Sql("CREATE TABLE ev (at timestamptz, local timestamp, tod time, score float8, v text, "
      "PRIMARY KEY (at, local, tod, score))");
  Sql("CREATE PUBLICATION e2e FOR ALL TABLES");
  auto agent = StartAgent();
  Sql("INSERT INTO ev SELECT '2024-03-01 10:00:00.123456+02'::timestamptz + g * interval '1 s', "
      "'1999-12-31 23:59:59.5'::timestamp + g * interval '1 min', "
      "'13:14:15.000001'::time + g * interval '1 ms', g / 3.0, 'v' || g "
      "FROM generate_series(1, 50) g");
  Sql("INSERT INTO ev VALUES ('0044-01-01 00:00:00+00', '0001-01-01 00:00:00', '00:00:00', "
      "'NaN', 'edge'), ('9999-12-31 23:59:59.999999+00', '9999-12-31 23:59:59.999999', "
      "'23:59:59.999999', '-Infinity', 'edge2')");
  CliResult v = VerifyEventually();  // keys and values of these types compare equal
  ASSERT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_NE(v.out.find("public.ev -> replica.ev: EQUAL (source 52 rows"), std::string::npos)
      << v.out;
  Sql("TRUNCATE ev");
  Sql("INSERT INTO ev VALUES (now(), localtimestamp, localtime, 1.5, 'after')");
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  std::string dump;
  for (; std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(200ms)) {
    auto d = emulator_->Dump("proj.replica.ev");
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    dump = *d;
    if (dump.find("\"after\"") != std::string::npos && dump.find("\"edge") == std::string::npos &&
        dump.find("\"v1\"") == std::string::npos)
      break;
  }
  EXPECT_NE(dump.find("\"after\""), std::string::npos) << dump.substr(0, 600);
  EXPECT_EQ(dump.find("\"v17\""), std::string::npos)
      << "a truncated row survived: " << dump.substr(0, 600);
  EXPECT_EQ(dump.find("\"edge"), std::string::npos)
      << "a truncated row survived: " << dump.substr(0, 600);
  EXPECT_NE(agent->ReadErr().find("TRUNCATE applied to ev: 52 keys deleted"), std::string::npos)
      << agent->ReadErr();
  StopAgent(agent);
}

// The walsender sends a commit once its WAL is flushed, before the committing session is
// visible to others. Synchronous replication to a standby that never connects holds a
// commit in exactly that window, so the agent decodes a key change (leaving a TOASTed value
// unchanged) whose new key a read-back cannot see yet. The agent must wait for visibility
// rather than conclude that the new key is gone (the chaos test's lost rows).
TEST_F(RunE2eTest, ToastReadBackWaitsUntilTheCommitIsVisible) {
  auto agent = StartAgentWithToastedDocs();
  ASSERT_EQ(VerifyEventually().exit_code, 0);

  HoldCommitsInvisible();
  auto session = pg_->Connect();
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  std::atomic<bool> committed{false};
  std::thread writer([&] {
    // Blocks in the synchronous-replication wait: flushed and decodable, not yet visible.
    Status s = session->Exec(
        "BEGIN; UPDATE docs SET id = 100 WHERE id = 1; UPDATE docs SET rev = 1 WHERE id = 2; "
        "UPDATE docs SET body = (SELECT string_agg(md5((i * 7)::text), '') FROM "
        "generate_series(1, 150) i) WHERE id = 3; UPDATE docs SET rev = 2 WHERE id = 3; "
        "COMMIT");
    committed = s.ok();
  });
  // Give the agent time to receive and decode the transaction while it is invisible.
  std::this_thread::sleep_for(3s);
  EXPECT_FALSE(committed.load()) << "the commit was not held by synchronous replication";
  Sql("ALTER SYSTEM RESET synchronous_standby_names");
  Sql("SELECT pg_reload_conf()");
  writer.join();
  EXPECT_TRUE(committed.load());
  CliResult v = VerifyEventually();
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_NE(v.out.find("public.docs -> replica.docs: EQUAL (source 3 rows"), std::string::npos)
      << v.out;
  StopAgent(agent);
}

// target.table_name names the BigQuery tables; run and verify agree on the names.
TEST_F(RunE2eTest, TableNameTemplate) {
  std::ofstream(config_, std::ios::app) << "[target]\ntable_name = {schema}_{table}_copy\n";
  Sql("CREATE SCHEMA sales");
  Sql("CREATE TABLE sales.orders (id bigint PRIMARY KEY, amount numeric)");
  Sql("CREATE TABLE public.orders (id bigint PRIMARY KEY, note text)");
  Sql("CREATE PUBLICATION e2e FOR ALL TABLES");
  auto agent = StartAgent();
  Sql("INSERT INTO sales.orders SELECT g, g * 2 FROM generate_series(1, 50) g");
  Sql("INSERT INTO public.orders SELECT g, 'n' FROM generate_series(1, 20) g");
  CliResult v = VerifyEventually();
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_NE(v.out.find("sales.orders -> replica.sales_orders_copy: EQUAL (source 50 rows"),
            std::string::npos)
      << v.out;
  EXPECT_NE(v.out.find("public.orders -> replica.public_orders_copy: EQUAL (source 20 rows"),
            std::string::npos)
      << v.out;
  EXPECT_EQ(DumpLines("sales_orders_copy").size(), 50u);
  StopAgent(agent);
}

// replication.logical_messages = pass: pg_logical_emit_message() payloads land in the
// change-log table pg2bq_logical_messages, transactional ones with their transaction and
// never for a rolled-back one. replication.heartbeat_interval writes the agent's own
// (filtered) messages, so WAL keeps being confirmed while nothing published changes.
TEST_F(RunE2eTest, LogicalMessagesPassAndHeartbeat) {
  std::ofstream(config_, std::ios::app)
      << "[replication]\nlogical_messages = pass\nheartbeat_interval = 1s\n";
  Sql("CREATE TABLE t (id int PRIMARY KEY)");
  Sql("CREATE PUBLICATION e2e FOR ALL TABLES");
  auto agent = StartAgent();
  Sql("BEGIN; INSERT INTO t VALUES (1); "
      "SELECT pg_logical_emit_message(true, 'app', 'in a transaction'); COMMIT");
  Sql("SELECT pg_logical_emit_message(false, 'app', '\\x00ff'::bytea)");
  Sql("BEGIN; SELECT pg_logical_emit_message(true, 'app', 'rolled back'); ROLLBACK");
  ASSERT_EQ(VerifyEventually().exit_code, 0);
  std::vector<std::string> rows;
  for (int i = 0; i < 100 && rows.size() < 2; ++i) {
    std::this_thread::sleep_for(100ms);
    rows = DumpLines("pg2bq_logical_messages");
  }
  ASSERT_EQ(rows.size(), 2u);
  std::string all = rows[0] + rows[1];
  EXPECT_NE(all.find("\"prefix\":\"app\""), std::string::npos) << all;
  EXPECT_NE(all.find("\"transactional\":true"), std::string::npos) << all;
  EXPECT_NE(all.find("\"transactional\":false"), std::string::npos) << all;
  EXPECT_EQ(all.find("rolled back"), std::string::npos) << all;
  EXPECT_NE(all.find("\"content\":\"AP8=\""), std::string::npos) << all;  // base64 of 00 ff
  EXPECT_EQ(all.find("pg2bq_heartbeat"), std::string::npos) << all;
  // Heartbeats write WAL on their own and it is confirmed.
  auto before = pg_->QueryValue("SELECT pg_current_wal_lsn()");
  ASSERT_TRUE(before.ok());
  std::this_thread::sleep_for(2500ms);
  auto moved = pg_->QueryValue("SELECT pg_current_wal_lsn() > '" + *before + "'::pg_lsn");
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(*moved, "t") << "no heartbeat wrote WAL";
  const bool confirmed = ConfirmedPast(*before);
  EXPECT_TRUE(confirmed) << "heartbeat WAL not confirmed";
  StopAgent(agent);
}

// SIGHUP reloads the configuration: reloadable keys apply at once (here the heartbeat
// starts writing WAL that gets confirmed), others are named and wait for a restart, and a
// configuration with problems is refused while the agent keeps running.
TEST_F(RunE2eTest, SighupReloadsReloadableKeys) {
  Sql("CREATE TABLE t (id int PRIMARY KEY)");
  Sql("CREATE PUBLICATION e2e FOR ALL TABLES");
  auto agent = StartAgent();
  Sql("INSERT INTO t VALUES (1)");
  ASSERT_EQ(VerifyEventually().exit_code, 0);
  const std::string original = ReadText(config_);
  auto wait_for_log = [&](const std::string& text) {
    for (int i = 0; i < 100; ++i) {
      if (agent->ReadErr().find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  };
  std::ofstream(config_, std::ios::trunc) << original << "[agent]\nlog_level = bogus\n";
  agent->Signal(SIGHUP);
  EXPECT_TRUE(wait_for_log("keeping the running one")) << agent->ReadErr();
  EXPECT_NE(agent->ReadErr().find("reload: " + config_), std::string::npos) << agent->ReadErr();

  std::string changed = original;
  changed.replace(changed.find("slot = e2e\n"), 11,
                  "slot = renamed\nheartbeat_interval = 1s\n");  // one reloadable, one not
  std::ofstream(config_, std::ios::trunc) << changed;
  agent->Signal(SIGHUP);
  EXPECT_TRUE(wait_for_log("reload: replication.slot changed")) << agent->ReadErr();
  EXPECT_TRUE(wait_for_log("reload: applied (heartbeat_interval 1000 ms")) << agent->ReadErr();
  auto before = pg_->QueryValue("SELECT pg_current_wal_lsn()");
  ASSERT_TRUE(before.ok());
  std::this_thread::sleep_for(2500ms);
  const bool confirmed = ConfirmedPast(*before);
  EXPECT_TRUE(confirmed) << "no heartbeat after the reload:\n" << agent->ReadErr();
  Sql("INSERT INTO t VALUES (2)");  // still replicating into the original slot's target
  std::ofstream(config_, std::ios::trunc) << original;
  EXPECT_EQ(VerifyEventually().exit_code, 0);
  StopAgent(agent);
}

// BigQuery down and the spool budget full: the agent stops reading and says so, keeps the
// replication connection alive meanwhile (status updates; wal_sender_timeout is 5 s here and
// the pause lasts longer), and resumes by itself once the flusher frees space.
TEST_F(RunE2eTest, SpoolBudgetPausesReadingThenResumes) {
  WriteConfig("[spool]\nbudget = 2MiB\nsegment_size = 1MiB\n");
  Sql("ALTER SYSTEM SET wal_sender_timeout = '5s'");
  Sql("SELECT pg_reload_conf()");
  Sql("CREATE TABLE blobs (id bigint PRIMARY KEY, v text)");
  Sql("CREATE PUBLICATION e2e FOR ALL TABLES");
  auto agent = StartAgent();
  SetFaults(R"({"outage": true})");
  // ~10 MB of poorly compressible rows: several times the budget.
  for (int b = 0; b < 8; ++b) {
    Sql("INSERT INTO blobs SELECT g, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) "
        "FROM generate_series(" +
        std::to_string(b * 10000 + 1) + ", " + std::to_string(b * 10000 + 10000) + ") g");
  }
  bool paused = false;
  for (int i = 0; i < 300 && !paused; ++i) {
    paused = agent->ReadErr().find("spool budget reached") != std::string::npos;
    if (!paused) std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(paused) << agent->ReadErr();
  EXPECT_GT(RetainedWal(), 0);      // now, and only now, PostgreSQL retains WAL
  std::this_thread::sleep_for(9s);  // well past wal_sender_timeout
  SetFaults(R"({"outage": false})");
  CliResult v = VerifyEventually(180s);
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_NE(v.out.find("public.blobs -> replica.blobs: EQUAL (source 80000 rows"),
            std::string::npos)
      << v.out;
  const std::string log = agent->ReadErr();
  EXPECT_NE(log.find("reading resumed after"), std::string::npos) << log;
  EXPECT_EQ(log.find("replication resumed at"), std::string::npos)
      << "the walsender dropped the connection during the pause:\n"
      << log;
  StopAgent(agent);
}

// PostgreSQL restarts (immediate) while the reader is inside a change, here waiting for a
// commit to become visible before an unchanged-TOAST read-back: the agent reconnects and
// carries on (PostgreSQL resends the transaction) instead of exiting.
TEST_F(RunE2eTest, SourceRestartDuringReadBackIsRidden) {
  auto agent = StartAgentWithToastedDocs();
  ASSERT_EQ(VerifyEventually().exit_code, 0);
  HoldCommitsInvisible();
  auto session = pg_->Connect();
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  std::thread writer([&] {
    // Held by synchronous replication: decoded, not yet visible; ends with the restart.
    (void)session->Exec("UPDATE docs SET id = 100 WHERE id = 1");
  });
  std::this_thread::sleep_for(3s);  // the agent now waits for the commit to become visible
  Sql("ALTER SYSTEM RESET synchronous_standby_names");  // for after the restart
  Status restarted = pg_->Restart("immediate");
  ASSERT_TRUE(restarted.ok()) << restarted.ToString();
  writer.join();
  CliResult v = VerifyEventually(120s);
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_NE(v.out.find("public.docs -> replica.docs: EQUAL (source 3 rows"), std::string::npos)
      << v.out;
  EXPECT_TRUE(agent->Wait(0s).timed_out) << "the agent exited:\n" << agent->ReadErr();
  EXPECT_NE(agent->ReadErr().find("reconnecting"), std::string::npos) << agent->ReadErr();
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
    if (round == 2) {
      // PostgreSQL restarts under the running agent: it reconnects and resumes.
      Status restarted = pg_->Restart("immediate");
      ASSERT_TRUE(restarted.ok()) << restarted.ToString();
      Sql("INSERT INTO t VALUES (-1, -1, 'after restart')");
      std::this_thread::sleep_for(500ms);
    }
    agent->Signal(SIGKILL);
    agent->Wait(10s);
    agent = StartAgent();
  }
  CliResult v = VerifyEventually(90s);
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  // The slot is not held back once everything is flushed.
  StopAgent(agent);
}

TEST_F(RunE2eTest, SchemaChangeMidStreamAllTypesAndKeylessTable) {
  Sql("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')");
  Sql("CREATE DOMAIN posint AS integer CHECK (VALUE > 0)");
  Sql("CREATE TABLE typed (id integer PRIMARY KEY, b boolean, i2 smallint, i8 bigint, "
      "f4 real, f8 double precision, n numeric(10,3), nu numeric, m money, t text, "
      "vc varchar(20), c char(3), by bytea, j json, jb jsonb, d date, ts timestamp, "
      "tz timestamptz, tm time, iv interval, u uuid, ia integer[], ta text[], e mood, "
      "p posint, inet_c inet)");
  Sql("CREATE TABLE events (kind text, payload text)");  // no key: change log
  Sql("CREATE PUBLICATION e2e FOR ALL TABLES");
  auto agent = StartAgent();
  Sql("INSERT INTO typed VALUES (1, true, 2, 3000000000, 1.5, 'NaN', 12.345, 1e30, 12.34, "
      "'text ü', 'vc', 'abc', '\\x00ff', '{\"a\": 1}', '{\"b\": [1, 2]}', '2024-02-29', "
      "'2024-01-01 12:34:56.789', '2024-01-01 12:34:56.789+02', '23:59:59', '1 day 02:00', "
      "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{1,2,3}', '{x,y}', 'happy', 7, '10.0.0.1/8')");
  Sql("INSERT INTO typed (id) VALUES (2)");
  Sql("INSERT INTO events VALUES ('a', 'one'), ('b', 'two')");
  // Schema change mid-stream: a new column, used right away.
  Sql("ALTER TABLE typed ADD COLUMN added text");
  Sql("INSERT INTO typed (id, added) VALUES (3, 'new column')");
  Sql("UPDATE typed SET added = 'later' WHERE id = 1");
  Sql("INSERT INTO events VALUES ('c', 'three')");
  CliResult v = VerifyEventually();
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_NE(v.out.find("public.events: skipped"), std::string::npos) << v.out;
  // Every value arrived in its mapped form (the emulator's dump, sorted by key).
  auto typed = DumpLines("typed");
  ASSERT_EQ(typed.size(), 3u);
  EXPECT_EQ(typed[0],
            R"({"id":"1","b":true,"i2":"2","i8":"3000000000","f4":1.5,"f8":"NaN","n":"12.345",)"
            R"("nu":"1000000000000000000000000000000","m":"12.34","t":"text ü","vc":"vc",)"
            R"("c":"abc","by":"AP8=","j":{"a":1},"jb":{"b":[1,2]},"d":"2024-02-29",)"
            R"("ts":"2024-01-01T12:34:56.789000","tz":"2024-01-01T10:34:56.789000Z",)"
            R"("tm":"23:59:59.000000","iv":"0-0 1 2:0:0",)"
            R"("u":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11","ia":["1","2","3"],"ta":["x","y"],)"
            R"("e":"happy","p":"7","inet_c":"10.0.0.1/8","added":"later"})");
  EXPECT_NE(typed[2].find("\"added\":\"new column\""), std::string::npos) << typed[2];
  auto events = DumpLines("events");
  EXPECT_EQ(events.size(), 3u);
  // Nothing was dead-lettered.
  EXPECT_EQ(DeadLetters(), "");
  StopAgent(agent);
}

// BigQuery (the emulator) down during a write burst: the agent keeps draining the slot into
// the spool, so the slot retains almost no WAL; afterwards the backlog drains.
TEST_F(RunE2eTest, EmulatorOutageKeepsWalFlatThenDrains) {
  Sql("CREATE TABLE burst (id integer PRIMARY KEY, v text)");
  Sql("CREATE PUBLICATION e2e FOR ALL TABLES");
  auto agent = StartAgent();
  Sql("INSERT INTO burst VALUES (0, 'before')");
  ASSERT_EQ(VerifyEventually().exit_code, 0);
  SetFaults(R"({"outage": true})");
  const int kBatches = 40, kRows = 2500;
  for (int b = 0; b < kBatches; ++b) {
    Sql("INSERT INTO burst SELECT g, md5(g::text) FROM generate_series(" +
        std::to_string(b * kRows + 1) + ", " + std::to_string((b + 1) * kRows) + ") g");
  }
  const long long wal_burst =
      std::stoll(*pg_->QueryValue("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"));
  // Give the reader a moment to spool and confirm the end of the burst.
  long long retained = -1;
  for (int i = 0; i < 100; ++i) {
    retained = RetainedWal();
    if (retained >= 0 && retained < (1 << 20)) break;
    std::this_thread::sleep_for(100ms);
  }
  const std::uint64_t spooled = SpoolBytes();
  std::printf("outage: WAL position %lld, retained by the slot %lld bytes, spool %llu bytes\n",
              wal_burst, retained, static_cast<unsigned long long>(spooled));
  EXPECT_GE(retained, 0);
  EXPECT_LT(retained, 1 << 20) << "the slot holds WAL back during the outage";
  EXPECT_GT(spooled, 1u << 20) << "the backlog should be in the spool";
  CliResult during = RunCli({"verify", "--config", config_}, 60s);
  EXPECT_NE(during.exit_code, 0);  // the REST API is down too
  const auto t0 = std::chrono::steady_clock::now();
  SetFaults(R"({"outage": false})");
  CliResult v = VerifyEventually(120s);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  std::printf(
      "outage: %d rows drained and verified in %.2f s (%.0f rows/s, includes retry "
      "backoff and verify polling)\n",
      kBatches * kRows, secs, kBatches * kRows / secs);
  StopAgent(agent);
}

// Peak RSS (kB) of the `pg2bq run` process using config_, read from /proc.
long PeakRssKb(const std::string& config) {
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string pid = e.path().filename().string();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream cmd(e.path() / "cmdline");
    std::stringstream c;
    c << cmd.rdbuf();
    const std::string line = c.str();
    if (line.find(std::string("run") + '\0' + "--config" + '\0' + config) == std::string::npos)
      continue;
    std::ifstream st(e.path() / "status");
    for (std::string l; std::getline(st, l);)
      if (l.rfind("VmHWM:", 0) == 0) return std::stol(l.substr(6));
  }
  return -1;
}

// One 2,000,000-row transaction: appended to the spool in parts as it arrives, so the
// agent's memory stays bounded whatever the transaction size. Into the emulator's
// no-storage mode (validated and acknowledged, not stored) to keep the test short.
// An unreachable target stops a first start with one clear line (most likely a wrong
// endpoint); once something was replicated, it is an outage: the agent starts, spools, and
// catches up when the target answers.
TEST_F(RunE2eTest, UnreachableTargetFailsAFirstStartButNotARestart) {
  Sql("CREATE TABLE t (id integer PRIMARY KEY, v text)");
  Sql("CREATE PUBLICATION e2e FOR ALL TABLES");
  SetFaults(R"({"outage": true})");
  auto first = StartAgent(false);
  CliResult r = first->Wait(60s);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("pg2bq run: target:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("first start"), std::string::npos) << r.err;
  EXPECT_FALSE(SlotActive());

  SetFaults(R"({"outage": false})");
  auto agent = StartAgent();
  Sql("INSERT INTO t VALUES (1, 'one')");
  ASSERT_EQ(VerifyEventually().exit_code, 0);
  StopAgent(agent);

  SetFaults(R"({"outage": true})");
  agent = StartAgent();
  ASSERT_TRUE(SlotActive()) << agent->ReadErr();
  Sql("INSERT INTO t SELECT g, 'v' FROM generate_series(2, 100) g");
  SetFaults(R"({"outage": false})");
  CliResult v = VerifyEventually();
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_NE(agent->ReadErr().find("target not reachable now"), std::string::npos);
  StopAgent(agent);
}

TEST_F(RunE2eTest, TwoMillionRowTransactionMemoryBounded) {
  emulator_->Kill();
  Status s = emulator_->Start({"--no-storage"});
  ASSERT_TRUE(s.ok()) << s.ToString();
  WriteConfig();
  Sql("CREATE TABLE big (id bigint PRIMARY KEY, customer text, amount numeric(12,2), "
      "at timestamptz)");
  Sql("CREATE PUBLICATION e2e FOR ALL TABLES");
  auto agent = StartAgent();
  const std::string start_lsn = *pg_->QueryValue("SELECT pg_current_wal_lsn()");
  const auto t0 = std::chrono::steady_clock::now();
  Sql("INSERT INTO big SELECT g, 'customer ' || (g % 1000), g % 10000 / 100.0, now() "
      "FROM generate_series(1, 2000000) g");
  const auto t1 = std::chrono::steady_clock::now();
  bool acked = false;
  for (int i = 0; i < 1200 && !acked; ++i) {
    CliResult st = RunCli({"status", "--config", config_}, 30s);
    const auto at = st.out.find("acknowledged LSN ");
    if (at != std::string::npos) {
      const std::string lsn = st.out.substr(at + 17, st.out.find(' ', at + 17) - at - 17);
      auto newer = pg_->QueryValue("SELECT '" + lsn + "'::pg_lsn > '" + start_lsn + "'::pg_lsn");
      acked = newer.ok() && *newer == "t";
    }
    if (!acked) std::this_thread::sleep_for(100ms);
  }
  const auto t2 = std::chrono::steady_clock::now();
  ASSERT_TRUE(acked) << "the transaction was not acknowledged";
  const long rss_kb = PeakRssKb(config_);
  const double commit_s = std::chrono::duration<double>(t1 - t0).count();
  const double ack_s = std::chrono::duration<double>(t2 - t1).count();
  std::printf(
      "2,000,000-row transaction: INSERT+COMMIT %.1f s, COMMIT -> acknowledged %.1f s "
      "(%.0f rows/s), agent peak RSS %ld kB\n",
      commit_s, ack_s, 2000000 / ack_s, rss_kb);
  ASSERT_GT(rss_kb, 0);
  EXPECT_LT(rss_kb, 256 * 1024) << "peak RSS above 256 MiB";
  StopAgent(agent);
}

// Writes to unpublished tables (and an idle database) must not hold WAL behind the slot:
// with nothing pending the agent confirms the keepalive positions.
TEST_F(RunE2eTest, UnpublishedWritesDoNotHoldWal) {
  Sql("CREATE TABLE published (id integer PRIMARY KEY)");
  Sql("CREATE TABLE other (id integer, pad text)");
  Sql("CREATE PUBLICATION e2e FOR TABLE published");
  auto agent = StartAgent();
  Sql("INSERT INTO published VALUES (1)");
  Sql("INSERT INTO other SELECT g, repeat('x', 200) FROM generate_series(1, 50000) g");
  long long retained = -1;
  for (int i = 0; i < 300; ++i) {  // status updates go out every 10 s
    retained = RetainedWal();
    if (retained >= 0 && retained < (64 << 10)) break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_GE(retained, 0);
  EXPECT_LT(retained, 64 << 10) << "WAL of unpublished writes is held behind the slot";
  EXPECT_EQ(VerifyEventually().exit_code, 0);
  StopAgent(agent);
}

// Chaos: a continuous mixed workload while the agent is SIGKILLed 30 times at random
// moments, PostgreSQL and the emulator are restarted, and the emulator injects errors.
// At the end verify finds the target identical and nothing was dead-lettered.
TEST_F(RunE2eTest, ChaosKillsRestartsAndFaults) {
  Sql("CREATE TABLE acct (id integer PRIMARY KEY, balance bigint, note text)");
  Sql("CREATE TABLE ledger (id bigserial PRIMARY KEY, acct integer, delta bigint)");
  Sql("CREATE PUBLICATION e2e FOR ALL TABLES");
  auto agent = StartAgent();
  Sql("INSERT INTO acct SELECT g, 0, 'n' FROM generate_series(1, 200) g");
  std::atomic<bool> stop{false};
  std::atomic<int> committed{0};
  std::thread workload([&] {
    std::mt19937 rng(42);
    while (!stop.load()) {
      const int a = 1 + static_cast<int>(rng() % 400), d = static_cast<int>(rng() % 100) - 50;
      std::string sql;
      switch (rng() % 4) {
        case 0:
          sql = "INSERT INTO acct VALUES (" + std::to_string(a) + ", " + std::to_string(d) +
                ", 'i') ON CONFLICT (id) DO UPDATE SET balance = acct.balance + 1";
          break;
        case 1:
          sql = "BEGIN; UPDATE acct SET balance = balance + " + std::to_string(d) +
                " WHERE id = " + std::to_string(a) + "; INSERT INTO ledger (acct, delta) VALUES (" +
                std::to_string(a) + ", " + std::to_string(d) + "); COMMIT";
          break;
        case 2:
          sql = "DELETE FROM acct WHERE id = " + std::to_string(a);
          break;
        default:
          sql = "UPDATE acct SET id = id + 400 WHERE id = " + std::to_string(a) +
                " AND NOT EXISTS (SELECT 1 FROM acct WHERE id = " + std::to_string(a + 400) + ")";
      }
      if (pg_->Exec(sql).ok()) committed.fetch_add(1);  // fails while PostgreSQL restarts
      std::this_thread::sleep_for(2ms);
    }
  });
  std::mt19937 rng(7);
  for (int kill = 1; kill <= 30; ++kill) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 600));
    agent->Signal(SIGKILL);
    agent->Wait(10s);
    if (kill == 8 || kill == 22) {
      Status restarted = pg_->Restart(kill == 8 ? "immediate" : "fast");
      ASSERT_TRUE(restarted.ok()) << restarted.ToString();
    }
    if (kill == 12) SetFaults(R"({"error_rates": {"AppendRows": {"UNAVAILABLE": 0.2}}})");
    if (kill == 16) {
      // The emulator dies too (its SQLite state survives); it comes back on new ports.
      emulator_->Kill();
      Status s = emulator_->Start();
      ASSERT_TRUE(s.ok()) << s.ToString();
      WriteConfig();
      SetFaults(R"({"error_rates": {"AppendRows": {"UNAVAILABLE": 0.2}}})");
    }
    if (kill == 24) SetFaults(R"({"error_rates": {}})");
    agent = StartAgent();
  }
  stop.store(true);
  workload.join();
  std::printf("chaos: 30 SIGKILLs, 2 PostgreSQL restarts, 1 emulator kill, %d statements\n",
              committed.load());
  CliResult v = VerifyEventually(120s);
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_EQ(DeadLetters(), "");
  StopAgent(agent);
}

}  // namespace
}  // namespace pg2bq::testing
