// End-to-end tests of `pg2bq stream` (the real executable) against a real PostgreSQL 15:
// every pgoutput message kind, every supported type in text AND binary mode (the two
// outputs must be byte-identical), streamed transactions (commit, abort, subtransaction
// abort), interleaved transactions, replica identities, TOAST, TRUNCATE flags, logical
// messages, --end-lsn, exit codes and clear errors.
#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "common/lsn.h"
#include "tests/integration/cli_runner.h"
#include "tests/support/pg_test_cluster.h"

namespace pg2bq::testing {
namespace {

using nlohmann::json;

std::vector<json> ParseLines(const std::string& out) {
  std::vector<json> lines;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    lines.push_back(json::parse(line));
  }
  return lines;
}

class StreamCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto c = PgTestCluster::Start();
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    cluster_ = std::move(*c).release();
    ASSERT_TRUE(cluster_
                    ->Exec(R"sql(
      CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
      CREATE DOMAIN posint AS int4 CHECK (VALUE > 0);
      CREATE DOMAIN short_text AS varchar(20);
      CREATE TABLE all_types (
        id bigint PRIMARY KEY,
        c_bool bool, c_int2 int2, c_int4 int4, c_int8 int8, c_oid oid,
        c_float4 float4, c_float8 float8, c_numeric numeric, c_numeric_scaled numeric(14,4),
        c_text text, c_varchar varchar(10), c_bpchar char(5), c_name name, c_bytea bytea,
        c_uuid uuid, c_date date, c_time time, c_timetz timetz, c_timestamp timestamp,
        c_timestamptz timestamptz, c_interval interval, c_json json, c_jsonb jsonb,
        c_inet inet, c_cidr cidr, c_macaddr macaddr, c_money money, c_enum mood,
        c_domain posint, c_domain_text short_text,
        a_int4 int4[], a_int8 int8[], a_text text[], a_numeric numeric[],
        a_timestamptz timestamptz[], a_bool bool[], a_uuid uuid[], a_enum mood[],
        a_float8 float8[], a_date date[], a_bytea bytea[], a_jsonb jsonb[], a_domain posint[]);
      CREATE TABLE ident_default (id int PRIMARY KEY, v text, w int);
      CREATE TABLE ident_full (id int PRIMARY KEY, v text, w int);
      ALTER TABLE ident_full REPLICA IDENTITY FULL;
      CREATE TABLE ident_nothing (id int, v text);
      ALTER TABLE ident_nothing REPLICA IDENTITY NOTHING;
      CREATE TABLE toasted (id int PRIMARY KEY, big text, small int);
      ALTER TABLE toasted ALTER COLUMN big SET STORAGE EXTERNAL;
      CREATE TABLE big (id int PRIMARY KEY, payload text);
      CREATE TABLE parent (id serial PRIMARY KEY, v text);
      CREATE TABLE child (id serial PRIMARY KEY, parent_id int REFERENCES parent(id));
      CREATE PUBLICATION pub FOR ALL TABLES;
    )sql")
                    .ok());
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }

  static std::string Dsn() { return cluster_->Dsn("postgres"); }

  static std::string CreateSlot(const std::string& name) {
    auto r =
        cluster_->Exec("SELECT pg_create_logical_replication_slot('" + name + "', 'pgoutput')");
    EXPECT_TRUE(r.ok()) << r.ToString();
    return name;
  }
  static std::string CurrentLsn() {
    return cluster_->QueryValue("SELECT pg_current_wal_lsn()").value();
  }

  // Runs the CLI over `slot` up to `end_lsn` and returns stdout (asserting exit 0).
  static std::string Stream(const std::string& slot, const std::string& end_lsn, bool binary,
                            std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"stream",        "--dsn", Dsn(),       "--slot", slot,
                                     "--publication", "pub",   "--end-lsn", end_lsn};
    if (binary) args.push_back("--binary");
    args.insert(args.end(), extra.begin(), extra.end());
    CliResult r = RunCli(args);
    EXPECT_EQ(r.exit_code, 0) << "stderr:\n" << r.err;
    EXPECT_FALSE(r.timed_out);
    return r.out;
  }

  // Creates a text and a binary slot, runs `workload`, streams both up to the current
  // LSN and checks that the two outputs are identical. Returns the parsed lines.
  static std::vector<json> CaptureBoth(const std::string& name,
                                       const std::function<void()>& workload,
                                       std::vector<std::string> extra = {},
                                       const std::function<void()>& before_drop = {}) {
    CreateSlot(name + "_text");
    CreateSlot(name + "_bin");
    workload();
    const std::string end = CurrentLsn();
    const std::string text = Stream(name + "_text", end, false, extra);
    const std::string binary = Stream(name + "_bin", end, true, extra);
    EXPECT_EQ(text, binary) << "text and binary mode printed different output";
    if (before_drop) before_drop();
    (void)cluster_->Exec("SELECT pg_drop_replication_slot('" + name + "_text'), " +
                         "pg_drop_replication_slot('" + name + "_bin')");
    return ParseLines(text);
  }

  static void Exec(const std::string& sql) {
    Status s = cluster_->Exec(sql);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  static PgTestCluster* cluster_;
};

PgTestCluster* StreamCliTest::cluster_ = nullptr;

// Each row's JSON values must be exactly what the server prints for `col::text`.
void ExpectMatchesServerText(PgTestCluster* cluster, const json& row, const std::string& table,
                             const std::string& id) {
  for (const auto& [col, value] : row.items()) {
    // format('%s') calls the type's output function (a ::text cast may differ: bool, inet).
    auto expected =
        cluster->Query("SELECT CASE WHEN " + col + " IS NULL THEN NULL ELSE format('%s', " + col +
                       ") END FROM " + table + " WHERE id = " + id);
    ASSERT_TRUE(expected.ok()) << expected.status().ToString();
    ASSERT_EQ(expected->size(), 1u);
    const auto& v = (*expected)[0][0];
    if (!v) {
      EXPECT_TRUE(value.is_null()) << col;
    } else {
      EXPECT_EQ(value, *v) << "column " << col << " of row " << id;
    }
  }
}

TEST_F(StreamCliTest, EveryTypeTextAndBinaryIdentical) {
  auto lines = CaptureBoth("types", [] {
    Exec(R"sql(
      SET timezone = 'America/New_York';  -- the CLI must print UTC regardless
      INSERT INTO all_types VALUES (1,
        true, 12, 123456, 9876543210, 4000000000, 1.5, 3.141592653589793, 12345.678900,
        42.5, 'hello', 'varchar', 'ab', 'a_name', '\x00017f80ff'::bytea,
        'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '2024-02-29', '13:45:07.123456',
        '13:45:07.5+05:30', '2024-02-29 13:45:07.123456', '2024-02-29 13:45:07.123456+02',
        '1 year 2 mons 3 days 04:05:06.789', '{"a": [1, 2.50, "x"]}', '{"b": {"c": null}, "a": 1}',
        '192.168.1.10/24', '10.0.0.0/8', '08:00:2b:01:02:03', 1234.56, 'happy', 7, 'short',
        '{1,NULL,-3}', '{9223372036854775807,NULL}', '{"a b","q\"uote","back\\slash",NULL,"NULL",""}',
        '{1.5,NaN,NULL,-0.001}', '{"2024-01-01 00:00:00+00",infinity,NULL}', '{t,f,NULL}',
        '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,NULL}', '{sad,NULL,happy}',
        '{1.5,NaN,Infinity,-Infinity,NULL}', '{2024-01-01,-infinity,NULL}', '{"\\x00ff",NULL}',
        ARRAY['{"k": [1]}'::jsonb, NULL], '{1,2}');
      INSERT INTO all_types (id) VALUES (2);
      INSERT INTO all_types VALUES (3,
        false, -32768, -2147483648, -9223372036854775808, 0, 'NaN', 'Infinity', 'NaN',
        -0.0001, E'unicode \u00e9\u4e2d\U0001F600 "quotes" \\ back\nnew line\ttab', '', ' ',
        '', ''::bytea, '00000000-0000-0000-0000-000000000000', 'infinity', '00:00:00',
        '00:00:00-15:59', '-infinity', 'infinity', '-1 years +2 mons -3 days -04:05:06.000001',
        'null', '[]', '::1', '2001:db8::/32', 'ff:ff:ff:ff:ff:ff', '-92233720368547758.08', 'sad',
        2147483647, '', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}');
      INSERT INTO all_types (id, c_float4, c_float8, c_numeric, c_date, c_timestamp,
                             c_timestamptz, c_interval, c_time, c_timetz, c_money, c_inet)
      VALUES (4, '-Infinity', '-0', '+Infinity', '-infinity', 'infinity', '-infinity',
              '0', '24:00:00', '23:59:59.999999+15:59', 0, '2001:db8::1:0:0:1/64'),
             (5, 1.17549435e-38, 1e-310, '-Infinity', '0044-03-15 BC', '0044-03-15 12:00:00 BC',
              '1999-12-31 23:59:59.999999+00', '178000000 years', '12:00', '12:00+00', 0.01,
              '10.1.2.3'),
             (6, 0.1, 0.1, 123456789012345678901234567890.123456789012345678901234567890,
              '9999-12-31', '294276-12-31 23:59:59.999999', '1970-01-01 00:00:00+00',
              '-178000000 years', '23:59:59.999999', '00:00:01-00:00:01', -0.01, '0.0.0.0/0'),
             (7, 3.4028235e38, 1.7976931348623157e308, 0.000000000000000000001, '2000-01-01',
              '2000-01-01 00:00:00', '2000-01-01 00:00:00+00', '00:00:00.000001', '00:00:00.000001',
              '00:00:00+00', 92233720368547758.07, '255.255.255.255'),
             (8, -1.5e-45, 5e-324, -99999999999999999999.99999999999999999999, '1900-02-28',
              '1900-03-01 00:00:00', '2038-01-19 03:14:08+00', '-00:00:00.5', '01:02:03',
              '01:02:03+14:00', 1, 'fe80::1ff:fe23:4567:890a');
      UPDATE all_types SET c_text = 'updated', c_numeric = -1.0 WHERE id = 1;
      DELETE FROM all_types WHERE id = 2;
    )sql");
  });
  ASSERT_EQ(lines.size(), 10u);
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(lines[i]["op"], "insert");
    EXPECT_EQ(lines[i]["table"], "public.all_types");
  }
  EXPECT_EQ(lines[8]["op"], "update");
  EXPECT_EQ(lines[9]["op"], "delete");
  EXPECT_EQ(lines[9]["old"], json({{"id", "2"}}));
  // Every insert row (rows 3..8 are unchanged since) prints the server's own text.
  for (int i = 2; i < 8; ++i) {
    ExpectMatchesServerText(cluster_, lines[i]["new"], "all_types",
                            lines[i]["new"]["id"].get<std::string>());
  }
  ExpectMatchesServerText(cluster_, lines[8]["new"], "all_types", "1");
}

TEST_F(StreamCliTest, MessageKindsAndTransactionFields) {
  auto lines = CaptureBoth("kinds", [] {
    Exec("INSERT INTO ident_default VALUES (1, 'a', 1)");
    Exec(
        "BEGIN; SELECT pg_logical_emit_message(true, 'tx-prefix', 'in a transaction'); "
        "UPDATE ident_default SET v = 'b' WHERE id = 1; COMMIT");
    Exec("SELECT pg_logical_emit_message(false, 'nontx', E'not \\\\ transactional')");
    // A transaction with a replication origin makes pgoutput send an Origin message.
    Exec("SELECT pg_replication_origin_create('test_origin')");
    Exec(
        "SELECT pg_replication_origin_session_setup('test_origin'); BEGIN; "
        "SELECT pg_replication_origin_xact_setup('0/ABCDEF', now()); "
        "INSERT INTO ident_default VALUES (2, 'from origin', 2); COMMIT; "
        "SELECT pg_replication_origin_session_reset()");
    Exec("DELETE FROM ident_default");
  });
  ASSERT_EQ(lines.size(), 7u);
  EXPECT_EQ(lines[0]["op"], "insert");
  EXPECT_EQ(lines[0]["new"], json({{"id", "1"}, {"v", "a"}, {"w", "1"}}));
  EXPECT_TRUE(lines[0]["old"].is_null());
  EXPECT_TRUE(lines[0]["xid"].is_number());
  EXPECT_EQ(lines[1]["op"], "message");
  EXPECT_EQ(lines[1]["transactional"], true);
  EXPECT_EQ(lines[1]["prefix"], "tx-prefix");
  EXPECT_EQ(lines[1]["content"], "in a transaction");
  EXPECT_EQ(lines[1]["commit_lsn"], lines[2]["commit_lsn"]);
  EXPECT_EQ(lines[1]["xid"], lines[2]["xid"]);
  EXPECT_EQ(lines[2]["op"], "update");
  EXPECT_TRUE(lines[2]["old"].is_null());  // REPLICA IDENTITY DEFAULT, key unchanged
  EXPECT_EQ(lines[3]["op"], "message");
  EXPECT_EQ(lines[3]["transactional"], false);
  EXPECT_EQ(lines[3]["content"], "not \\ transactional");
  EXPECT_TRUE(lines[3]["commit_lsn"].is_null());
  EXPECT_EQ(lines[4]["new"]["v"], "from origin");
  EXPECT_EQ(lines[5]["op"], "delete");
  EXPECT_EQ(lines[5]["old"], json({{"id", "1"}}));
  EXPECT_EQ(lines[6]["old"], json({{"id", "2"}}));
  // Commit LSNs never go backwards; every line has an LSN.
  Lsn prev = 0;
  for (const auto& l : lines) {
    ASSERT_TRUE(l["lsn"].is_string());
    if (l["commit_lsn"].is_null()) continue;
    Lsn c = ParseLsn(l["commit_lsn"].get<std::string>()).value();
    EXPECT_GE(c, prev);
    prev = c;
  }
}

TEST_F(StreamCliTest, ReplicaIdentities) {
  auto lines = CaptureBoth("ident", [] {
    Exec(
        "INSERT INTO ident_default VALUES (10, 'x', 1); INSERT INTO ident_full VALUES (10, 'x', "
        "1)");
    Exec("UPDATE ident_default SET id = 11, v = 'y' WHERE id = 10");  // changes the key
    Exec("UPDATE ident_full SET v = 'y' WHERE id = 10");
    Exec("DELETE FROM ident_default WHERE id = 11");
    Exec("DELETE FROM ident_full WHERE id = 10");
    Exec("INSERT INTO ident_nothing VALUES (1, 'only inserts')");
  });
  ASSERT_EQ(lines.size(), 7u);
  // UPDATE changing the primary key: the old key is sent.
  EXPECT_EQ(lines[2]["op"], "update");
  EXPECT_EQ(lines[2]["new"], json({{"id", "11"}, {"v", "y"}, {"w", "1"}}));
  EXPECT_EQ(lines[2]["old"], json({{"id", "10"}}));
  // REPLICA IDENTITY FULL: the whole old row on update and delete.
  EXPECT_EQ(lines[3]["old"], json({{"id", "10"}, {"v", "x"}, {"w", "1"}}));
  EXPECT_EQ(lines[4]["old"], json({{"id", "11"}}));
  EXPECT_EQ(lines[5]["old"], json({{"id", "10"}, {"v", "y"}, {"w", "1"}}));
  EXPECT_EQ(lines[6]["table"], "public.ident_nothing");
  EXPECT_EQ(lines[6]["new"], json({{"id", "1"}, {"v", "only inserts"}}));
  // REPLICA IDENTITY NOTHING: the server refuses UPDATE/DELETE on a published table.
  Status s = cluster_->Exec("UPDATE ident_nothing SET v = 'no'");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("replica identity"), std::string::npos) << s.ToString();
}

TEST_F(StreamCliTest, UnchangedToastIsNotNull) {
  auto lines = CaptureBoth("toast", [] {
    // 20 kB of hard-to-compress text, stored out of line.
    Exec(
        "INSERT INTO toasted SELECT 1, string_agg(md5(g::text), '') , 0 "
        "FROM generate_series(1, 640) g");
    Exec("UPDATE toasted SET small = 1 WHERE id = 1");
    Exec("UPDATE toasted SET big = 'now short', small = 2 WHERE id = 1");
  });
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["new"]["big"].get<std::string>().size(), 640u * 32);
  EXPECT_EQ(lines[1]["new"]["big"], json({{"unchanged_toast", true}}));
  EXPECT_EQ(lines[1]["new"]["small"], "1");
  EXPECT_EQ(lines[2]["new"]["big"], "now short");
}

TEST_F(StreamCliTest, TruncateFlags) {
  auto lines = CaptureBoth("trunc", [] {
    Exec("INSERT INTO parent (v) VALUES ('p'); INSERT INTO child (parent_id) VALUES (1)");
    Exec("TRUNCATE parent RESTART IDENTITY CASCADE");
    Exec("TRUNCATE ident_default");
  });
  std::vector<json> truncates;
  for (const auto& l : lines) {
    if (l["op"] == "truncate") truncates.push_back(l);
  }
  ASSERT_EQ(truncates.size(), 3u);
  std::set<std::string> tables;
  for (int i = 0; i < 2; ++i) {
    tables.insert(truncates[i]["table"].get<std::string>());
    EXPECT_EQ(truncates[i]["cascade"], true);
    EXPECT_EQ(truncates[i]["restart_identity"], true);
    EXPECT_EQ(truncates[i]["commit_lsn"], truncates[0]["commit_lsn"]);
  }
  EXPECT_EQ(tables, (std::set<std::string>{"public.parent", "public.child"}));
  EXPECT_EQ(truncates[2]["table"], "public.ident_default");
  EXPECT_EQ(truncates[2]["cascade"], false);
  EXPECT_EQ(truncates[2]["restart_identity"], false);
}

// logical_decoding_work_mem is 64kB in the test cluster: these transactions are
// streamed while in progress (protocol 2, streaming on).
TEST_F(StreamCliTest, StreamedTransactionsCommitAbortAndSubtransactionAbort) {
  auto lines = CaptureBoth(
      "streamed",
      [] {
        Exec("INSERT INTO big SELECT g, repeat('a', 100) FROM generate_series(1, 3000) g");
        Exec(
            "BEGIN; INSERT INTO big SELECT g, repeat('b', 100) FROM generate_series(3001, 6000) g; "
            "ROLLBACK");
        Exec(
            "BEGIN; INSERT INTO big SELECT g, 'keep' FROM generate_series(10001, 12000) g; "
            "SAVEPOINT s1; INSERT INTO big SELECT g, repeat('c', 100) FROM generate_series(20001, "
            "23000) g; "
            "ROLLBACK TO SAVEPOINT s1; INSERT INTO big VALUES (30001, 'after savepoint'); COMMIT");
        Exec("DELETE FROM big");
      },
      {},
      [] {
        // The server really streamed them (rather than sending them at commit).
        auto streamed = cluster_->QueryValue(
            "SELECT coalesce(sum(stream_txns), 0) FROM pg_stat_replication_slots "
            "WHERE slot_name LIKE 'streamed_%'");
        ASSERT_TRUE(streamed.ok());
        EXPECT_GT(std::stol(*streamed), 0) << "no transaction was streamed";
      });
  std::size_t first = 0, rolled_back = 0, kept = 0, sub_aborted = 0, after = 0, deletes = 0;
  for (const auto& l : lines) {
    if (l["op"] == "delete") {
      ++deletes;
      continue;
    }
    const auto id = std::stol(l["new"]["id"].get<std::string>());
    if (id <= 3000)
      ++first;
    else if (id <= 6000)
      ++rolled_back;
    else if (id <= 12000)
      ++kept;
    else if (id <= 23000)
      ++sub_aborted;
    else
      ++after;
    EXPECT_TRUE(l["commit_lsn"].is_string());
  }
  EXPECT_EQ(first, 3000u);
  EXPECT_EQ(rolled_back, 0u);
  EXPECT_EQ(kept, 2000u);
  EXPECT_EQ(sub_aborted, 0u);
  EXPECT_EQ(after, 1u);
  EXPECT_EQ(deletes, 5001u);
}

TEST_F(StreamCliTest, InterleavedTransactionsComeInCommitOrder) {
  std::string xid1, xid2;
  auto lines = CaptureBoth("interleaved", [&] {
    auto s1 = cluster_->Connect();
    auto s2 = cluster_->Connect();
    ASSERT_TRUE(s1.ok() && s2.ok());
    ASSERT_TRUE(s1->Exec("BEGIN; INSERT INTO ident_default VALUES (101, 's1', 1)").ok());
    ASSERT_TRUE(s2->Exec("BEGIN; INSERT INTO ident_default VALUES (201, 's2', 1)").ok());
    // Large enough to be streamed while the other transaction is open.
    ASSERT_TRUE(s1->Exec("INSERT INTO big SELECT g, repeat('x', 200) FROM "
                         "generate_series(50001, 51000) g")
                    .ok());
    ASSERT_TRUE(s2->Exec("INSERT INTO ident_default VALUES (202, 's2', 2)").ok());
    xid1 = s1->QueryValue("SELECT txid_current()").value();
    xid2 = s2->QueryValue("SELECT txid_current()").value();
    ASSERT_TRUE(s2->Exec("COMMIT").ok());
    ASSERT_TRUE(s1->Exec("INSERT INTO ident_default VALUES (102, 's1', 2); COMMIT").ok());
  });
  ASSERT_EQ(lines.size(), 1004u);
  // s2 committed first: its two rows come first, then all of s1's.
  EXPECT_EQ(lines[0]["new"]["id"], "201");
  EXPECT_EQ(lines[1]["new"]["id"], "202");
  EXPECT_EQ(lines[0]["xid"].get<long>(), std::stol(xid2));
  EXPECT_EQ(lines[0]["commit_lsn"], lines[1]["commit_lsn"]);
  EXPECT_EQ(lines[2]["new"]["id"], "101");
  EXPECT_EQ(lines[1003]["new"]["id"], "102");
  for (std::size_t i = 2; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i]["xid"].get<long>(), std::stol(xid1));
    EXPECT_EQ(lines[i]["commit_lsn"], lines[2]["commit_lsn"]);
  }
  EXPECT_GT(ParseLsn(lines[2]["commit_lsn"].get<std::string>()).value(),
            ParseLsn(lines[0]["commit_lsn"].get<std::string>()).value());
  Exec("DELETE FROM big; DELETE FROM ident_default");
}

TEST_F(StreamCliTest, ProtocolVersionOneWithoutStreaming) {
  auto lines = CaptureBoth(
      "proto1",
      [] { Exec("INSERT INTO big SELECT g, repeat('v', 100) FROM generate_series(1, 2000) g"); },
      {"--proto-version", "1"});
  EXPECT_EQ(lines.size(), 2000u);
  Exec("DELETE FROM big");
}

TEST_F(StreamCliTest, EndLsnStopsAfterLastTransactionAtOrBeforeIt) {
  const std::string slot = CreateSlot("endlsn");
  Exec("INSERT INTO ident_default VALUES (301, 'before', 1)");
  const std::string end = CurrentLsn();
  Exec("INSERT INTO ident_default VALUES (302, 'after', 1)");
  std::string out = Stream(slot, end, false);
  auto lines = ParseLines(out);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["new"]["id"], "301");
  // The slot was confirmed up to what was printed: the next run starts after it.
  out = Stream(slot, CurrentLsn(), false);
  lines = ParseLines(out);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["new"]["id"], "302");
  Exec("DELETE FROM ident_default; SELECT pg_drop_replication_slot('endlsn')");
}

TEST_F(StreamCliTest, SigtermStopsCleanlyAndConfirmsWhatWasPrinted) {
  const std::string slot = CreateSlot("sigterm");
  CliProcess p({"stream", "--dsn", Dsn(), "--slot", slot, "--publication", "pub"});
  Exec("INSERT INTO ident_default VALUES (401, 'live', 1)");
  // Wait for the line to show up, then stop the tool.
  for (int i = 0; i < 200 && p.ReadOut().find("401") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  p.Signal(SIGTERM);
  CliResult r = p.Wait(std::chrono::seconds(30));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(ParseLines(r.out).size(), 1u);
  // Confirmed: a new run prints nothing for that transaction.
  Exec("INSERT INTO ident_default VALUES (402, 'next', 1)");
  auto lines = ParseLines(Stream(slot, CurrentLsn(), false));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["new"]["id"], "402");
  Exec("DELETE FROM ident_default; SELECT pg_drop_replication_slot('sigterm')");
}

TEST_F(StreamCliTest, CreateSlotAndUsageErrors) {
  CliResult r = RunCli({"stream", "--dsn", Dsn(), "--slot", "created_by_cli", "--publication",
                        "pub", "--create-slot", "--end-lsn", CurrentLsn()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(cluster_
                ->QueryValue("SELECT plugin FROM pg_replication_slots WHERE slot_name = "
                             "'created_by_cli'")
                .value(),
            "pgoutput");
  Exec("SELECT pg_drop_replication_slot('created_by_cli')");

  r = RunCli({"stream", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--end-lsn"), std::string::npos);
  r = RunCli({"stream", "--slot", "x", "--publication", "p"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--dsn is required"), std::string::npos) << r.err;
  r = RunCli({"stream", "--dsn", Dsn(), "--slot", "x", "--publication", "p", "--output", "xml"});
  EXPECT_EQ(r.exit_code, 2);
  r = RunCli({"stream", "--dsn", Dsn(), "--slot", "x", "--publication", "p", "--end-lsn", "zz"});
  EXPECT_EQ(r.exit_code, 2);
  r = RunCli(
      {"stream", "--dsn", Dsn(), "--slot", "x", "--publication", "p", "--read-pause-us", "-5"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--read-pause-us must be 0 or more microseconds, not -5"), std::string::npos)
      << r.err;
  r = RunCli({"stream", "--dsn", Dsn(), "--slot", "x", "--publication", "p",
              "--socket-receive-buffer", "16384"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--socket-receive-buffer must be -1 (auto), 0 (kernel autotuning) or at "
                       "least 32768 bytes, not 16384"),
            std::string::npos)
      << r.err;
}

TEST_F(StreamCliTest, ClearErrorsExitOne) {
  struct Case {
    std::vector<std::string> args;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {{"--dsn", cluster_->Dsn("postgres", "password=wrong"), "--slot", "s", "--publication",
        "pub"},
       "authentication failed for user \"postgres\""},
      {{"--dsn", Dsn(), "--slot", "no_such_slot", "--publication", "pub"},
       "replication slot \"no_such_slot\""},
      {{"--dsn", Dsn(), "--slot", "s", "--publication", "no_such_pub"},
       "publication \"no_such_pub\" does not exist"},
      {{"--dsn", "host=127.0.0.1 port=1 user=postgres dbname=postgres connect_timeout=5", "--slot",
        "s", "--publication", "pub"},
       "cannot reach PostgreSQL at 127.0.0.1:1"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args = {"stream"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    CliResult r = RunCli(args);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << "stderr:\n" << r.err;
  }
}

}  // namespace
}  // namespace pg2bq::testing
