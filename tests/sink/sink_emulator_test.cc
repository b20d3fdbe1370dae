// The sink against a running bq-emulator (tests/bq_emulator): table management over REST,
// CDC batches over AppendRows, ordering, key changes, schema changes, row errors to dead
// letters, and every retryable fault recovered without loss or duplication.
#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "sink/append_rows_writer.h"
#include "sink/row_encoder.h"
#include "sink/table_manager.h"
#include "tests/bq_emulator/emulator_process.h"

namespace pg2bq::sink {
namespace {

using nlohmann::json;

SourceColumn Col(std::string name, std::uint32_t type, bool key = false, std::int32_t typmod = -1) {
  SourceColumn c;
  c.name = std::move(name);
  c.type_oid = type;
  c.is_key = key;
  c.typmod = typmod;
  return c;
}

SourceRelation Accounts() {
  SourceRelation r;
  r.oid = 100;
  r.schema = "public";
  r.name = "accounts";
  r.columns = {Col("id", oid::kInt8, true),
               Col("owner", oid::kText),
               Col("balance", oid::kNumeric, false, ((12 << 16) | 2) + 4),
               Col("opened", oid::kTimestamptz),
               Col("active", oid::kBool),
               Col("meta", oid::kJsonb),
               Col("tags", 1009),
               Col("born", oid::kDate)};
  return r;
}

// Rows are given as text values (nullptr = NULL).
using Texts = std::vector<const char*>;

class SinkEmulatorTest : public ::testing::Test {
 protected:
  void SetUp() override { Start({}); }
  void Start(const std::vector<std::string>& args) {
    emulator_ = std::make_unique<bqemu::EmulatorProcess>(BQ_EMULATOR_BINARY, dir_.path() + "/data");
    Status s = emulator_->Start(args);
    ASSERT_TRUE(s.ok()) << s.ToString();
    channel_ = MakeWriteChannel({emulator_->grpc_target(), true, nullptr});
    TableManagerOptions o;
    o.base_url = "http://127.0.0.1:" + std::to_string(emulator_->http_port());
    o.project = "proj";
    o.dataset = "replica";
    o.max_staleness = "0-0 0 0:5:0";
    manager_ = std::make_unique<TableManager>(o);
  }
  std::unique_ptr<TableWriter> Writer(const TableDescriptor& d, WriterOptions o = {}) {
    o.retry.transient.initial = std::chrono::milliseconds(5);
    o.retry.transient.cap = std::chrono::milliseconds(50);
    o.retry.resource_exhausted = o.retry.transient;
    return std::make_unique<TableWriter>(
        channel_, nullptr, manager_->TablePath(TableManager::TableIdFor(d)), o, &dead_letters_);
  }
  void SetFaults(const json& faults) {
    httplib::Client c("127.0.0.1", emulator_->http_port());
    auto r = c.Put("/admin/faults", faults.dump(), "application/json");
    ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "no response");
  }
  json Stats() {
    httplib::Client c("127.0.0.1", emulator_->http_port());
    auto r = c.Get("/admin/stats");
    EXPECT_TRUE(r && r->status == 200);
    return r ? json::parse(r->body) : json();
  }
  // Encodes a change into *batch; values as texts.
  void Add(RowEncoder& enc, EncodedBatch* batch, ChangeKind kind, Lsn lsn, std::uint64_t ord,
           const Texts& nv, const Texts& ov = {}) {
    auto to_values = [](const Texts& t) {
      std::vector<SourceValue> v;
      for (const char* s : t)
        v.push_back(s ? SourceValue::Text(s) : SourceValue::Null());
      return v;
    };
    const auto n = to_values(nv), o = to_values(ov);
    SourceChange c;
    c.kind = kind;
    c.commit_lsn = lsn;
    c.ordinal = ord;
    c.commit_time_us = 1700000000000000;
    c.new_values = n;
    c.old_values = o;
    auto r = enc.Encode(c, batch);
    ASSERT_EQ(r.outcome, EncodeResult::Outcome::kEncoded) << r.reason;
  }
  std::vector<json> Dump(const std::string& table) {
    auto out = emulator_->Dump("proj.replica." + table);
    EXPECT_TRUE(out.ok()) << out.status().ToString();
    std::vector<json> rows;
    std::istringstream in(out.ok() ? *out : "");
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) rows.push_back(json::parse(line));
    return rows;
  }
  std::vector<json> DeadLetters() {
    std::vector<json> out;
    std::ifstream in(dead_letter_path_);
    for (std::string line; std::getline(in, line);)
      out.push_back(json::parse(line));
    return out;
  }

  bqemu::TempDir dir_;
  std::string dead_letter_path_ = dir_.path() + "/dead_letters.jsonl";
  DeadLetterWriter dead_letters_{dead_letter_path_};
  std::unique_ptr<bqemu::EmulatorProcess> emulator_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<TableManager> manager_;
  Cancellation cancel_;
};

TEST_F(SinkEmulatorTest, CreatesTableAndAppliesCdcBatch) {
  auto d = *BuildTableDescriptor(Accounts(), {}, 1);
  auto sync = manager_->EnsureTable(*d);
  ASSERT_TRUE(sync.ok()) << sync.status().ToString();
  EXPECT_TRUE(sync->created_dataset);
  EXPECT_TRUE(sync->created_table);
  auto table = manager_->GetTable("accounts");
  ASSERT_TRUE(table.ok());
  EXPECT_EQ((*table)["tableConstraints"]["primaryKey"]["columns"], json::array({"id"}));
  EXPECT_EQ((*table)["clustering"]["fields"], json::array({"id"}));
  // Second call: nothing to do.
  sync = manager_->EnsureTable(*d);
  ASSERT_TRUE(sync.ok());
  EXPECT_FALSE(sync->created_table);
  EXPECT_TRUE(sync->added_columns.empty());

  RowEncoder enc(d, {});
  EncodedBatch b;
  Add(enc, &b, ChangeKind::kInsert, 0x100, 0,
      {"1", "ann", "10.50", "2024-01-31 12:00:00+00", "t", R"({"a": 1})", "{x,y}", "1990-05-01"});
  Add(enc, &b, ChangeKind::kInsert, 0x100, 1,
      {"2", "bob", "-3.00", "2024-01-31 13:00:00.5+01", "f", nullptr, "{}", nullptr});
  Add(enc, &b, ChangeKind::kInsert, 0x100, 2,
      {"3", "cy", "0", nullptr, nullptr, nullptr, "{}", nullptr});
  Add(enc, &b, ChangeKind::kUpdate, 0x200, 0,
      {"2", "bob", "99.99", "2024-01-31 13:00:00.5+01", "f", nullptr, "{z}", nullptr});
  Add(enc, &b, ChangeKind::kDelete, 0x300, 0, {},
      {"3", nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr});
  auto w = Writer(*d);
  Status s = w->Append(*d, b, cancel_);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(w->stats().rows_acked, 5u);

  auto rows = Dump("accounts");
  ASSERT_EQ(rows.size(), 2u) << json(rows).dump();
  EXPECT_EQ(rows[0]["owner"], "ann");
  EXPECT_EQ(rows[0]["tags"], json::array({"x", "y"}));
  EXPECT_EQ(rows[1]["owner"], "bob");
  EXPECT_EQ(rows[1]["tags"], json::array({"z"}));
  EXPECT_NE(rows[1]["balance"].dump().find("99.99"), std::string::npos) << rows[1].dump();
}

TEST_F(SinkEmulatorTest, OutOfOrderSequenceNumbersKeepTheNewest) {
  auto d = *BuildTableDescriptor(Accounts(), {}, 1);
  ASSERT_TRUE(manager_->EnsureTable(*d).ok());
  RowEncoder enc(d, {});
  auto w = Writer(*d);
  EncodedBatch newer, older;
  Add(enc, &newer, ChangeKind::kInsert, 0x500, 3,
      {"7", "new", "1", nullptr, nullptr, nullptr, "{}", nullptr});
  Add(enc, &older, ChangeKind::kInsert, 0x500, 2,
      {"7", "old", "1", nullptr, nullptr, nullptr, "{}", nullptr});
  Add(enc, &older, ChangeKind::kInsert, 0x4FF, 9,
      {"7", "older", "1", nullptr, nullptr, nullptr, "{}", nullptr});
  ASSERT_TRUE(w->Append(*d, newer, cancel_).ok());
  ASSERT_TRUE(w->Append(*d, older, cancel_).ok());
  auto rows = Dump("accounts");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["owner"], "new");
}

TEST_F(SinkEmulatorTest, KeyChangingUpdateMovesTheRow) {
  auto d = *BuildTableDescriptor(Accounts(), {}, 1);
  ASSERT_TRUE(manager_->EnsureTable(*d).ok());
  RowEncoder enc(d, {});
  EncodedBatch b;
  Add(enc, &b, ChangeKind::kInsert, 0x10, 0,
      {"1", "ann", "1", nullptr, nullptr, nullptr, "{}", nullptr});
  Add(enc, &b, ChangeKind::kUpdate, 0x20, 0,
      {"5", "ann", "1", nullptr, nullptr, nullptr, "{}", nullptr},
      {"1", nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr});
  ASSERT_EQ(b.rows.size(), 3u);
  ASSERT_TRUE(Writer(*d)->Append(*d, b, cancel_).ok());
  auto rows = Dump("accounts");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["id"].dump().find('5') != std::string::npos, true) << rows[0].dump();
}

TEST_F(SinkEmulatorTest, SchemaChangeMidStream) {
  DescriptorRegistry reg({});
  SourceRelation r = Accounts();
  auto v1 = *reg.Update(r);
  ASSERT_TRUE(manager_->EnsureTable(*v1).ok());
  auto w = Writer(*v1);
  RowEncoder e1(v1, {});
  EncodedBatch b1;
  Add(e1, &b1, ChangeKind::kInsert, 0x10, 0,
      {"1", "ann", "1", nullptr, nullptr, nullptr, "{}", nullptr});
  ASSERT_TRUE(w->Append(*v1, b1, cancel_).ok());

  r.columns.push_back(Col("email", oid::kText));
  auto v2 = *reg.Update(r);
  ASSERT_EQ(v2->version, 2u);
  auto sync = manager_->EnsureTable(*v2);
  ASSERT_TRUE(sync.ok()) << sync.status().ToString();
  EXPECT_EQ(sync->added_columns, std::vector<std::string>{"email"});
  RowEncoder e2(v2, {});
  EncodedBatch b2;
  Add(e2, &b2, ChangeKind::kInsert, 0x20, 0,
      {"2", "bob", "2", nullptr, nullptr, nullptr, "{}", nullptr, "bob@example.com"});
  Status s = w->Append(*v2, b2, cancel_);  // same connection: new writer schema is sent
  ASSERT_TRUE(s.ok()) << s.ToString();
  auto rows = Dump("accounts");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_TRUE(rows[0]["email"].is_null());
  EXPECT_EQ(rows[1]["email"], "bob@example.com");

  // A type change BigQuery cannot follow is refused with a clear message.
  r.columns[1].type_oid = oid::kInt4;
  auto v3 = *reg.Update(r);
  auto bad = manager_->EnsureTable(*v3);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("owner is STRING in BigQuery"), std::string::npos)
      << bad.status().ToString();
}

TEST_F(SinkEmulatorTest, RowErrorsGoToDeadLettersAndTheRestIsWritten) {
  auto d = *BuildTableDescriptor(Accounts(), {}, 1);
  ASSERT_TRUE(manager_->EnsureTable(*d).ok());
  RowEncoder enc(d, {});
  EncodedBatch b;
  Add(enc, &b, ChangeKind::kInsert, 0x10, 0,
      {"1", "a", "1", nullptr, nullptr, "{}", "{}", nullptr});
  Add(enc, &b, ChangeKind::kInsert, 0x10, 1,
      {"2", "b", "1", nullptr, nullptr, "{not json", "{}", nullptr});
  Add(enc, &b, ChangeKind::kInsert, 0x10, 2,
      {"3", "c", "1", nullptr, nullptr, "[1]", "{}", nullptr});
  auto w = Writer(*d);
  Status s = w->Append(*d, b, cancel_);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(w->stats().dead_letters, 1u);
  EXPECT_EQ(w->stats().rows_acked, 2u);
  auto rows = Dump("accounts");
  ASSERT_EQ(rows.size(), 2u);
  auto letters = DeadLetters();
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(letters[0]["table"], "projects/proj/datasets/replica/tables/accounts");
  EXPECT_EQ(letters[0]["change_sequence"], "0000000000000010/0000000000000001");
  EXPECT_EQ(letters[0]["source"], "bigquery");
  EXPECT_FALSE(letters[0]["reason"].get<std::string>().empty());
  EXPECT_FALSE(letters[0]["row_proto_base64"].get<std::string>().empty());
}

// Many small requests, a fault injected at a rate: every row arrives exactly once.
class RetryableFaults : public SinkEmulatorTest,
                        public ::testing::WithParamInterface<const char*> {};

TEST_P(RetryableFaults, RecoveredWithoutLossOrDuplication) {
  // Change-log table on a committed stream: a duplicate would be a visible extra row.
  SourceRelation r = Accounts();
  for (auto& c : r.columns)
    c.is_key = false;
  r.name = "history";
  DescriptorOptions appends;
  appends.changelog_upsert = false;  // plain appends: offsets are what prevents duplicates
  auto d = *BuildTableDescriptor(r, appends, 1);
  ASSERT_EQ(d->mode, WriteMode::kChangeLog);
  ASSERT_TRUE(manager_->EnsureTable(*d).ok());
  SetFaults({{"error_rates", {{"AppendRows", {{GetParam(), 0.3}}}}}});
  RowEncoder enc(d, {});
  EncodedBatch b;
  const int n = 400;  // ~30 requests: P(no fault at all) = 0.7^30, negligible
  for (int i = 0; i < n; ++i) {
    const std::string id = std::to_string(i);
    Add(enc, &b, ChangeKind::kInsert, 0x1000 + static_cast<Lsn>(i), 0,
        {id.c_str(), "x", "1", nullptr, nullptr, nullptr, "{}", nullptr});
  }
  WriterOptions o;
  o.use_committed_stream = true;
  o.max_request_bytes = 1500;  // ~ a dozen rows per request: many requests, many faults
  auto w = Writer(*d, o);
  Status s = w->Append(*d, b, cancel_);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_GT(w->stats().retries, 0u);
  auto rows = Dump("history");
  ASSERT_EQ(rows.size(), static_cast<std::size_t>(n));
  std::set<std::string> seen;
  for (const auto& row : rows)
    seen.insert(row["_pg2bq_lsn"].get<std::string>());
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(n));
}

INSTANTIATE_TEST_SUITE_P(Codes, RetryableFaults,
                         ::testing::Values("UNAVAILABLE", "RESOURCE_EXHAUSTED", "INTERNAL",
                                           "ABORTED", "DEADLINE_EXCEEDED"));

TEST_F(SinkEmulatorTest, DroppedConnectionsAreReconnectedWithoutDuplicates) {
  SourceRelation r = Accounts();
  for (auto& c : r.columns)
    c.is_key = false;
  r.name = "history";
  DescriptorOptions appends;
  appends.changelog_upsert = false;  // plain appends: offsets are what prevents duplicates
  auto d = *BuildTableDescriptor(r, appends, 1);
  ASSERT_TRUE(manager_->EnsureTable(*d).ok());
  SetFaults({{"drop_stream_after", 3}});
  RowEncoder enc(d, {});
  EncodedBatch b;
  for (int i = 0; i < 150; ++i) {
    const std::string id = std::to_string(i);
    Add(enc, &b, ChangeKind::kInsert, 0x1000 + static_cast<Lsn>(i), 0,
        {id.c_str(), "x", "1", nullptr, nullptr, nullptr, "{}", nullptr});
  }
  WriterOptions o;
  o.use_committed_stream = true;
  o.max_request_bytes = 2000;
  auto w = Writer(*d, o);
  ASSERT_TRUE(w->Append(*d, b, cancel_).ok());
  EXPECT_GT(w->stats().reconnects, 0u);
  EXPECT_EQ(Dump("history").size(), 150u);
}

// The agent's change-log path: _default stream, rows keyed by _pg2bq_lsn and written as
// UPSERTs. A replay of the same changes (after a crash, the flusher resends from its
// checkpoint) overwrites them: one row per change, each keeping its operation.
TEST_F(SinkEmulatorTest, ChangeLogReplayOverwritesItself) {
  SourceRelation r = Accounts();
  for (auto& c : r.columns)
    c.is_key = false;
  r.name = "audit";
  auto d = *BuildTableDescriptor(r, {}, 1);
  ASSERT_EQ(d->mode, WriteMode::kChangeLog);
  auto sync = manager_->EnsureTable(*d);
  ASSERT_TRUE(sync.ok()) << sync.status().ToString();
  auto table = manager_->GetTable("audit");
  ASSERT_TRUE(table.ok());
  EXPECT_EQ((*table)["tableConstraints"]["primaryKey"]["columns"], json::array({"_pg2bq_lsn"}));
  RowEncoder enc(d, {});
  EncodedBatch b;
  Add(enc, &b, ChangeKind::kInsert, 0x100, 0,
      {"1", "a", "1", nullptr, nullptr, nullptr, "{}", nullptr});
  Add(enc, &b, ChangeKind::kInsert, 0x100, 1,
      {"1", "a", "1", nullptr, nullptr, nullptr, "{}", nullptr});
  Add(enc, &b, ChangeKind::kUpdate, 0x200, 0,
      {"1", "b", "2", nullptr, nullptr, nullptr, "{}", nullptr});
  auto w = Writer(*d);
  for (int replay = 0; replay < 3; ++replay) {
    Status s = w->Append(*d, b, cancel_);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  auto rows = Dump("audit");
  ASSERT_EQ(rows.size(), 3u) << json(rows).dump();
  std::map<std::string, std::string> ops;
  for (const auto& row : rows)
    ops[row["_pg2bq_lsn"].get<std::string>()] = row["_pg2bq_op"].get<std::string>();
  EXPECT_EQ(ops["0000000000000100/0000000000000000"], "INSERT");
  EXPECT_EQ(ops["0000000000000100/0000000000000001"], "INSERT");  // identical rows stay two
  EXPECT_EQ(ops["0000000000000200/0000000000000000"], "UPDATE");

  // A change-log table created by an older pg2bq (no primary key) is named, not appended to.
  DescriptorOptions appends;
  appends.changelog_upsert = false;
  r.name = "old_audit";
  auto plain = *BuildTableDescriptor(r, appends, 1);
  ASSERT_TRUE(manager_->EnsureTable(*plain).ok());
  r.name = "old_audit";
  auto keyed = *BuildTableDescriptor(r, {}, 1);
  auto refused = manager_->EnsureTable(*keyed);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("old_audit has primary key () but the source key is "
                                            "(_pg2bq_lsn)"),
            std::string::npos)
      << refused.status().message();
}

TEST_F(SinkEmulatorTest, CdcSurvivesFaultsAndOutage) {
  auto d = *BuildTableDescriptor(Accounts(), {}, 1);
  ASSERT_TRUE(manager_->EnsureTable(*d).ok());
  SetFaults({{"drop_stream_after", 4}, {"error_rates", {{"AppendRows", {{"UNAVAILABLE", 0.2}}}}}});
  RowEncoder enc(d, {});
  EncodedBatch b;
  for (int i = 0; i < 100; ++i) {
    const std::string id = std::to_string(i % 40), owner = "v" + std::to_string(i);
    Add(enc, &b, ChangeKind::kInsert, 0x1000 + static_cast<Lsn>(i), 0,
        {id.c_str(), owner.c_str(), "1", nullptr, nullptr, nullptr, "{}", nullptr});
  }
  WriterOptions o;
  o.max_request_bytes = 1500;
  auto w = Writer(*d, o);
  ASSERT_TRUE(w->Append(*d, b, cancel_).ok());
  auto rows = Dump("accounts");
  ASSERT_EQ(rows.size(), 40u);
  for (const auto& row : rows) {
    const int id =
        std::stoi(row["id"].is_string() ? row["id"].get<std::string>() : row["id"].dump());
    const int last = id + 80 < 100 ? id + 80 : id + 40;  // the latest change of that key
    EXPECT_EQ(row["owner"], "v" + std::to_string(last)) << row.dump();
  }
}

TEST_F(SinkEmulatorTest, NonRetryableErrorIsReportedWithTableAndLsns) {
  auto d = *BuildTableDescriptor(Accounts(), {}, 1);
  // No table created: NOT_FOUND is not retryable.
  RowEncoder enc(d, {});
  EncodedBatch b;
  Add(enc, &b, ChangeKind::kInsert, 0xAB, 0,
      {"1", "a", "1", nullptr, nullptr, nullptr, "{}", nullptr});
  Status s = Writer(*d)->Append(*d, b, cancel_);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("accounts"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("0/AB"), std::string::npos) << s.ToString();
}

TEST_F(SinkEmulatorTest, CancellationStopsRetryingAnOutage) {
  auto d = *BuildTableDescriptor(Accounts(), {}, 1);
  ASSERT_TRUE(manager_->EnsureTable(*d).ok());
  SetFaults({{"outage", true}});
  RowEncoder enc(d, {});
  EncodedBatch b;
  Add(enc, &b, ChangeKind::kInsert, 0xAB, 0,
      {"1", "a", "1", nullptr, nullptr, nullptr, "{}", nullptr});
  auto w = Writer(*d);
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    cancel_.Cancel();
  });
  Status s = w->Append(*d, b, cancel_);
  stopper.join();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kAborted) << s.ToString();
  EXPECT_GT(w->stats().retries, 0u);
}

}  // namespace
}  // namespace pg2bq::sink
