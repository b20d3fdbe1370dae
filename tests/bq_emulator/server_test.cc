// bq-emulator as a process, driven over real gRPC and HTTP: every error path
// of the Storage Write API and the REST calls, CDC ordering, faults,
// durability across kill -9 and concurrent appenders.
#include <google/protobuf/descriptor.pb.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "google/cloud/bigquery/storage/v1/storage.grpc.pb.h"
#include "google/rpc/status.pb.h"
#include "tests/bq_emulator/emulator_process.h"
#include "tests/bq_emulator/wire_fields.h"

namespace pg2bq::bqemu {
namespace {

namespace storage = google::cloud::bigquery::storage::v1;
using google::protobuf::DescriptorProto;
using google::protobuf::FieldDescriptorProto;
using nlohmann::json;

using pg2bq::bqemu::testing::IntField;
using pg2bq::bqemu::testing::StrField;
using pg2bq::bqemu::testing::Varint;

// Row type of the test tables: id INT64, name STRING [, _CHANGE_TYPE, _CHANGE_SEQUENCE_NUMBER].
DescriptorProto RowType(bool cdc, bool extra = false) {
  DescriptorProto d;
  d.set_name("Row");
  auto add = [&](const char* name, int number, FieldDescriptorProto::Type type) {
    auto* f = d.add_field();
    f->set_name(name);
    f->set_number(number);
    f->set_type(type);
    f->set_label(FieldDescriptorProto::LABEL_OPTIONAL);
  };
  add("id", 1, FieldDescriptorProto::TYPE_INT64);
  add("name", 2, FieldDescriptorProto::TYPE_STRING);
  if (cdc) {
    add("_CHANGE_TYPE", 3, FieldDescriptorProto::TYPE_STRING);
    add("_CHANGE_SEQUENCE_NUMBER", 4, FieldDescriptorProto::TYPE_STRING);
  }
  if (extra) add("not_a_column", 9, FieldDescriptorProto::TYPE_STRING);
  return d;
}

std::string Row(int64_t id, const std::string& name) {
  return IntField(1, id) + StrField(2, name);
}
std::string Change(int64_t id, const std::string& name, const char* type, const char* seq) {
  return Row(id, name) + StrField(3, type) + StrField(4, seq);
}

class ServerTest : public ::testing::Test {
 protected:
  void StartEmulator(const std::vector<std::string>& args = {}) {
    emu_ = std::make_unique<EmulatorProcess>(BQ_EMULATOR_BINARY, dir_.path());
    ASSERT_TRUE(emu_->Start(args).ok());
    channel_ = grpc::CreateChannel(emu_->grpc_target(), grpc::InsecureChannelCredentials());
    stub_ = storage::BigQueryWrite::NewStub(channel_);
    http_ = std::make_unique<httplib::Client>("127.0.0.1", emu_->http_port());
    http_->set_read_timeout(10, 0);
  }
  void SetUp() override { StartEmulator(); }

  json Call(const char* method, const std::string& path, const json& body = nullptr,
            int* status = nullptr) {
    std::string b = body.is_null() ? "" : body.dump();
    std::string m = method;
    auto send = [&]() {
      if (m == "POST") return http_->Post(path.c_str(), b, "application/json");
      if (m == "PATCH") return http_->Patch(path.c_str(), b, "application/json");
      if (m == "PUT") return http_->Put(path.c_str(), b, "application/json");
      if (m == "DELETE") return http_->Delete(path.c_str());
      return http_->Get(path.c_str());
    };
    httplib::Result r = send();
    EXPECT_TRUE(r) << method << " " << path;
    if (!r) return nullptr;
    if (status) *status = r->status;
    return r->body.empty() ? json(nullptr) : json::parse(r->body);
  }

  void CreateTable(const std::string& table, bool primary_key) {
    int st = 0;
    Call("POST", "/bigquery/v2/projects/p/datasets", {{"datasetReference", {{"datasetId", "d"}}}},
         &st);
    json t = {
        {"tableReference", {{"tableId", table}}},
        {"schema",
         {{"fields",
           {{{"name", "id"}, {"type", "INTEGER"}}, {{"name", "name"}, {"type", "STRING"}}}}}}};
    if (primary_key) {
      t["tableConstraints"] = {{"primaryKey", {{"columns", {"id"}}}}};
      t["clustering"] = {{"fields", {"id"}}};
      t["maxStaleness"] = "0-0 0 0:0:1";
    }
    Call("POST", "/bigquery/v2/projects/p/datasets/d/tables", t, &st);
    ASSERT_EQ(st, 200);
  }

  static std::string TablePath(const std::string& t) { return "projects/p/datasets/d/tables/" + t; }

  storage::AppendRowsRequest Request(const std::string& stream,
                                     const std::vector<std::string>& rows,
                                     const DescriptorProto* schema,
                                     std::optional<int64_t> offset = {}) {
    storage::AppendRowsRequest req;
    req.set_write_stream(stream);
    if (schema)
      *req.mutable_proto_rows()->mutable_writer_schema()->mutable_proto_descriptor() = *schema;
    for (const auto& r : rows)
      req.mutable_proto_rows()->mutable_rows()->add_serialized_rows(r);
    if (offset) req.mutable_offset()->set_value(*offset);
    return req;
  }

  // Sends the requests on one connection (all in flight), returns responses.
  std::vector<storage::AppendRowsResponse> Append(
      const std::vector<storage::AppendRowsRequest>& reqs, grpc::Status* final_status = nullptr) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    auto stream = stub_->AppendRows(&ctx);
    for (const auto& r : reqs) {
      if (!stream->Write(r)) break;
    }
    stream->WritesDone();
    std::vector<storage::AppendRowsResponse> out;
    storage::AppendRowsResponse resp;
    while (stream->Read(&resp))
      out.push_back(resp);
    grpc::Status st = stream->Finish();
    if (final_status) *final_status = st;
    return out;
  }

  std::string CreateStream(const std::string& table, storage::WriteStream::Type type) {
    grpc::ClientContext ctx;
    storage::CreateWriteStreamRequest req;
    req.set_parent(TablePath(table));
    req.mutable_write_stream()->set_type(type);
    storage::WriteStream ws;
    grpc::Status st = stub_->CreateWriteStream(&ctx, req, &ws);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return ws.name();
  }

  std::vector<json> DumpRows(const std::string& table) {
    auto out = emu_->Dump("p.d." + table);
    EXPECT_TRUE(out.ok()) << out.status().ToString();
    std::vector<json> rows;
    if (!out.ok()) return rows;
    size_t start = 0;
    while (start < out->size()) {
      size_t nl = out->find('\n', start);
      rows.push_back(json::parse(out->substr(start, nl - start)));
      start = nl + 1;
    }
    return rows;
  }

  TempDir dir_;
  std::unique_ptr<EmulatorProcess> emu_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<storage::BigQueryWrite::Stub> stub_;
  std::unique_ptr<httplib::Client> http_;
};

TEST_F(ServerTest, RestTableLifecycleAndErrors) {
  CreateTable("t", true);
  int st = 0;
  json t = Call("GET", "/bigquery/v2/projects/p/datasets/d/tables/t", nullptr, &st);
  EXPECT_EQ(st, 200);
  EXPECT_EQ(t["tableConstraints"]["primaryKey"]["columns"][0], "id");
  EXPECT_EQ(t["schema"]["fields"][0]["type"], "INTEGER");
  EXPECT_EQ(t["maxStaleness"], "0-0 0 0:0:1");
  EXPECT_EQ(t["clustering"]["fields"][0], "id");
  Call("POST", "/bigquery/v2/projects/p/datasets/d/tables",
       {{"tableReference", {{"tableId", "t"}}}}, &st);
  EXPECT_EQ(st, 409);
  json err = Call("GET", "/bigquery/v2/projects/p/datasets/d/tables/nope", nullptr, &st);
  EXPECT_EQ(st, 404);
  EXPECT_EQ(err["error"]["errors"][0]["reason"], "notFound");
  Call("GET", "/bigquery/v2/projects/p/datasets/nope", nullptr, &st);
  EXPECT_EQ(st, 404);
  Call("POST", "/bigquery/v2/projects/p/datasets/nope/tables",
       {{"tableReference", {{"tableId", "x"}}}}, &st);
  EXPECT_EQ(st, 404);
  // Primary key on a missing column.
  Call("POST", "/bigquery/v2/projects/p/datasets/d/tables",
       {{"tableReference", {{"tableId", "bad"}}},
        {"schema", {{"fields", {{{"name", "a"}, {"type", "STRING"}}}}}},
        {"tableConstraints", {{"primaryKey", {{"columns", {"b"}}}}}}},
       &st);
  EXPECT_EQ(st, 400);
  // Adding a column is allowed; dropping one or changing a type is not.
  json fields = t["schema"]["fields"];
  fields.push_back({{"name", "extra"}, {"type", "STRING"}});
  Call("PATCH", "/bigquery/v2/projects/p/datasets/d/tables/t", {{"schema", {{"fields", fields}}}},
       &st);
  EXPECT_EQ(st, 200);
  Call("PATCH", "/bigquery/v2/projects/p/datasets/d/tables/t",
       {{"schema", {{"fields", {{{"name", "id"}, {"type", "INTEGER"}}}}}}}, &st);
  EXPECT_EQ(st, 400);
  fields[1]["type"] = "INTEGER";
  Call("PATCH", "/bigquery/v2/projects/p/datasets/d/tables/t", {{"schema", {{"fields", fields}}}},
       &st);
  EXPECT_EQ(st, 400);
  Call("DELETE", "/bigquery/v2/projects/p/datasets/d/tables/t", nullptr, &st);
  EXPECT_EQ(st, 204);
  Call("GET", "/bigquery/v2/projects/p/datasets/d/tables/t", nullptr, &st);
  EXPECT_EQ(st, 404);
}

TEST_F(ServerTest, CommittedStreamOffsets) {
  CreateTable("t", false);
  std::string s = CreateStream("t", storage::WriteStream::COMMITTED);
  DescriptorProto d = RowType(false);
  auto resp = Append({Request(s, {Row(1, "a"), Row(2, "b")}, &d, 0),
                      Request("", {Row(3, "c")}, nullptr, 0),  // already exists
                      Request("", {Row(3, "c")}, nullptr, 7),  // beyond the end
                      Request("", {Row(3, "c")}, nullptr, 2),
                      Request("", {Row(4, "d")}, nullptr)});  // no offset: appended
  ASSERT_EQ(resp.size(), 5u);
  EXPECT_EQ(resp[0].append_result().offset().value(), 0);
  EXPECT_EQ(resp[1].error().code(), grpc::StatusCode::ALREADY_EXISTS);
  storage::StorageError detail;
  ASSERT_EQ(resp[1].error().details_size(), 1);
  ASSERT_TRUE(resp[1].error().details(0).UnpackTo(&detail));
  EXPECT_EQ(detail.code(), storage::StorageError::OFFSET_ALREADY_EXISTS);
  EXPECT_EQ(resp[2].error().code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_EQ(resp[3].append_result().offset().value(), 2);
  EXPECT_EQ(resp[4].append_result().offset().value(), 3);
  EXPECT_EQ(DumpRows("t").size(), 4u);

  grpc::ClientContext ctx;
  storage::FinalizeWriteStreamRequest fin;
  fin.set_name(s);
  storage::FinalizeWriteStreamResponse fr;
  ASSERT_TRUE(stub_->FinalizeWriteStream(&ctx, fin, &fr).ok());
  EXPECT_EQ(fr.row_count(), 4);
  resp = Append({Request(s, {Row(9, "z")}, &d)});
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_EQ(resp[0].error().code(), grpc::StatusCode::INVALID_ARGUMENT);

  grpc::Status st;
  Append({Request(TablePath("t") + "/streams/nope", {Row(1, "a")}, &d)}, &st);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  Append({Request(TablePath("nope") + "/streams/_default", {Row(1, "a")}, &d)}, &st);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  Append({Request("", {Row(1, "a")}, &d)}, &st);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ServerTest, PendingAndBufferedStreams) {
  CreateTable("t", false);
  DescriptorProto d = RowType(false);
  std::string pending = CreateStream("t", storage::WriteStream::PENDING);
  auto resp = Append({Request(pending, {Row(1, "a"), Row(2, "b")}, &d)});
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_TRUE(resp[0].has_append_result());
  EXPECT_EQ(DumpRows("t").size(), 0u);  // invisible until committed

  storage::BatchCommitWriteStreamsRequest commit;
  commit.set_parent(TablePath("t"));
  commit.add_write_streams(pending);
  {
    grpc::ClientContext ctx;
    storage::BatchCommitWriteStreamsResponse cr;
    ASSERT_TRUE(stub_->BatchCommitWriteStreams(&ctx, commit, &cr).ok());
    EXPECT_FALSE(cr.has_commit_time());  // not finalized yet
    ASSERT_EQ(cr.stream_errors_size(), 1);
    EXPECT_EQ(cr.stream_errors(0).code(), storage::StorageError::INVALID_STREAM_STATE);
  }
  {
    grpc::ClientContext ctx;
    storage::FinalizeWriteStreamRequest fin;
    fin.set_name(pending);
    storage::FinalizeWriteStreamResponse fr;
    ASSERT_TRUE(stub_->FinalizeWriteStream(&ctx, fin, &fr).ok());
  }
  {
    grpc::ClientContext ctx;
    storage::BatchCommitWriteStreamsResponse cr;
    ASSERT_TRUE(stub_->BatchCommitWriteStreams(&ctx, commit, &cr).ok());
    EXPECT_TRUE(cr.has_commit_time());
    EXPECT_EQ(cr.stream_errors_size(), 0);
  }
  EXPECT_EQ(DumpRows("t").size(), 2u);
  {
    grpc::ClientContext ctx;
    storage::BatchCommitWriteStreamsResponse cr;
    ASSERT_TRUE(stub_->BatchCommitWriteStreams(&ctx, commit, &cr).ok());
    ASSERT_EQ(cr.stream_errors_size(), 1);
    EXPECT_EQ(cr.stream_errors(0).code(), storage::StorageError::STREAM_ALREADY_COMMITTED);
  }

  std::string buffered = CreateStream("t", storage::WriteStream::BUFFERED);
  resp = Append({Request(buffered, {Row(3, "c"), Row(4, "d"), Row(5, "e")}, &d, 0)});
  EXPECT_EQ(DumpRows("t").size(), 2u);
  auto flush = [&](int64_t offset, storage::FlushRowsResponse* fr) {
    grpc::ClientContext ctx;
    storage::FlushRowsRequest req;
    req.set_write_stream(buffered);
    req.mutable_offset()->set_value(offset);
    return stub_->FlushRows(&ctx, req, fr);
  };
  storage::FlushRowsResponse fr;
  ASSERT_TRUE(flush(1, &fr).ok());
  EXPECT_EQ(fr.offset(), 1);
  EXPECT_EQ(DumpRows("t").size(), 4u);
  EXPECT_EQ(flush(3, &fr).error_code(), grpc::StatusCode::OUT_OF_RANGE);
  ASSERT_TRUE(flush(2, &fr).ok());
  EXPECT_EQ(DumpRows("t").size(), 5u);
  // FlushRows on a non-BUFFERED stream.
  grpc::ClientContext ctx;
  storage::FlushRowsRequest req;
  req.set_write_stream(pending);
  req.mutable_offset()->set_value(0);
  EXPECT_EQ(stub_->FlushRows(&ctx, req, &fr).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ServerTest, CdcHighestSequenceWinsAndDeletesAreForgotten) {
  CreateTable("t", true);
  DescriptorProto d = RowType(true);
  std::string def = TablePath("t") + "/streams/_default";
  auto resp =
      Append({Request(def, {Change(1, "v2", "UPSERT", "2"), Change(2, "x", "UPSERT", "1")}, &d),
              Request("", {Change(1, "v1-late", "UPSERT", "1")}, nullptr),  // older: loses
              Request("", {Change(1, "v10", "UPSERT", "A")}, nullptr),      // hex A > 9
              Request("", {Change(2, "", "DELETE", "5")}, nullptr),
              Request("", {Change(2, "resurrected", "UPSERT", "3")}, nullptr)});
  ASSERT_EQ(resp.size(), 5u);
  for (const auto& r : resp)
    EXPECT_TRUE(r.has_append_result()) << r.DebugString();
  auto rows = DumpRows("t");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], json::parse(R"({"id":"1","name":"v10"})"));
  // No tombstone by default: the older upsert brings key 2 back, as in BigQuery
  // after it forgot the deleted key.
  EXPECT_EQ(rows[1], json::parse(R"({"id":"2","name":"resurrected"})"));
}

TEST_F(ServerTest, CdcTombstonesKeptWhenAsked) {
  emu_->Kill();
  StartEmulator({"--keep-tombstones"});
  CreateTable("t", true);
  DescriptorProto d = RowType(true);
  std::string def = TablePath("t") + "/streams/_default";
  Append({Request(def,
                  {Change(2, "x", "UPSERT", "1"), Change(2, "", "DELETE", "5"),
                   Change(2, "late", "UPSERT", "3")},
                  &d)});
  EXPECT_EQ(DumpRows("t").size(), 0u);
}

TEST_F(ServerTest, CdcOnlyOnDefaultStreamOfKeyedTables) {
  CreateTable("keyed", true);
  CreateTable("plain", false);
  DescriptorProto d = RowType(true);
  auto resp = Append(
      {Request(TablePath("plain") + "/streams/_default", {Change(1, "a", "UPSERT", "1")}, &d)});
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_EQ(resp[0].error().code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(resp[0].error().message().find("primary key"), std::string::npos);
  std::string s = CreateStream("keyed", storage::WriteStream::COMMITTED);
  resp = Append({Request(s, {Change(1, "a", "UPSERT", "1")}, &d)});
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_EQ(resp[0].error().code(), grpc::StatusCode::INVALID_ARGUMENT);
  DescriptorProto plain = RowType(false);
  resp = Append({Request(TablePath("keyed") + "/streams/_default", {Row(1, "a")}, &plain, 0)});
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_EQ(resp[0].error().code(), grpc::StatusCode::INVALID_ARGUMENT);  // offset on _default
}

TEST_F(ServerTest, SchemaMismatchRowErrorsAndSizeLimit) {
  CreateTable("t", true);
  std::string def = TablePath("t") + "/streams/_default";
  DescriptorProto extra = RowType(false, true);
  auto resp = Append({Request(def, {Row(1, "a")}, &extra)});
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_EQ(resp[0].error().code(), grpc::StatusCode::INVALID_ARGUMENT);
  storage::StorageError detail;
  ASSERT_EQ(resp[0].error().details_size(), 1);
  ASSERT_TRUE(resp[0].error().details(0).UnpackTo(&detail));
  EXPECT_EQ(detail.code(), storage::StorageError::SCHEMA_MISMATCH_EXTRA_FIELDS);

  DescriptorProto d = RowType(true);
  resp = Append({Request(def,
                         {Change(1, "ok", "UPSERT", "1"), Change(2, "bad", "UPSERT", "zz"),
                          Change(3, "bad", "MERGE", "1")},
                         &d)});
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_EQ(resp[0].error().code(), grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_EQ(resp[0].row_errors_size(), 2);
  EXPECT_EQ(resp[0].row_errors(0).index(), 1);
  EXPECT_EQ(resp[0].row_errors(1).index(), 2);
  EXPECT_EQ(resp[0].row_errors(0).code(), storage::RowError::FIELDS_ERROR);
  EXPECT_EQ(DumpRows("t").size(), 0u);  // the whole request was refused

  std::vector<std::string> big(11, Row(1, std::string(1000000, 'x')));
  resp = Append({Request(def, big, &d)});
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_EQ(resp[0].error().code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(resp[0].error().message().find("too large"), std::string::npos);

  resp = Append({Request(def, {Row(1, "a")}, nullptr)});  // no writer schema
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_EQ(resp[0].error().code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ServerTest, UpdatedSchemaAfterColumnAdded) {
  CreateTable("t", false);
  std::string def = TablePath("t") + "/streams/_default";
  DescriptorProto d = RowType(false);
  grpc::ClientContext ctx;
  auto stream = stub_->AppendRows(&ctx);
  storage::AppendRowsResponse resp;
  ASSERT_TRUE(stream->Write(Request(def, {Row(1, "a")}, &d)));
  ASSERT_TRUE(stream->Read(&resp));
  EXPECT_FALSE(resp.has_updated_schema());
  int st = 0;
  Call("PATCH", "/bigquery/v2/projects/p/datasets/d/tables/t",
       {{"schema",
         {{"fields",
           {{{"name", "id"}, {"type", "INTEGER"}},
            {{"name", "name"}, {"type", "STRING"}},
            {{"name", "added"}, {"type", "STRING"}}}}}}},
       &st);
  ASSERT_EQ(st, 200);
  ASSERT_TRUE(stream->Write(Request("", {Row(2, "b")}, nullptr)));
  ASSERT_TRUE(stream->Read(&resp));
  ASSERT_TRUE(resp.has_updated_schema());
  EXPECT_EQ(resp.updated_schema().fields_size(), 3);
  EXPECT_EQ(resp.updated_schema().fields(2).name(), "added");
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
  auto rows = DumpRows("t");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_TRUE(rows[1]["added"].is_null());
}

TEST_F(ServerTest, FaultInjection) {
  CreateTable("t", false);
  std::string def = TablePath("t") + "/streams/_default";
  DescriptorProto d = RowType(false);
  int st = 0;
  Call("PUT", "/admin/faults", {{"outage", true}}, &st);
  ASSERT_EQ(st, 200);
  grpc::Status gs;
  Append({Request(def, {Row(1, "a")}, &d)}, &gs);
  EXPECT_EQ(gs.error_code(), grpc::StatusCode::UNAVAILABLE);
  Call("GET", "/bigquery/v2/projects/p/datasets/d/tables/t", nullptr, &st);
  EXPECT_EQ(st, 503);
  Call("PUT", "/admin/faults", {{"outage", false}, {"drop_stream_after", 2}}, &st);
  auto resp = Append({Request(def, {Row(1, "a")}, &d), Request("", {Row(2, "b")}, nullptr),
                      Request("", {Row(3, "c")}, nullptr)},
                     &gs);
  EXPECT_EQ(resp.size(), 2u);
  EXPECT_EQ(gs.error_code(), grpc::StatusCode::UNAVAILABLE);
  Call("POST", "/admin/faults/reset", nullptr, &st);
  Call("PUT", "/admin/faults",
       {{"error_rates", {{"GetWriteStream", {{"RESOURCE_EXHAUSTED", 1.0}}}}}}, &st);
  grpc::ClientContext ctx;
  storage::GetWriteStreamRequest get;
  get.set_name(def);
  storage::WriteStream ws;
  EXPECT_EQ(stub_->GetWriteStream(&ctx, get, &ws).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  // "error_rates": {} switches every rate off (what a test means when it "clears" them).
  Call("PUT", "/admin/faults", {{"error_rates", json::object()}}, &st);
  EXPECT_EQ(st, 200);
  grpc::ClientContext ctx2;
  EXPECT_TRUE(stub_->GetWriteStream(&ctx2, get, &ws).ok());
  Call("PUT", "/admin/faults", {{"error_rates", {{"GetWriteStream", {{"BOGUS", 1.0}}}}}}, &st);
  EXPECT_EQ(st, 400);
  EXPECT_EQ(DumpRows("t").size(), 2u);
}

TEST_F(ServerTest, SurvivesKillDashNine) {
  CreateTable("t", true);
  DescriptorProto d = RowType(true);
  std::string def = TablePath("t") + "/streams/_default";
  auto resp =
      Append({Request(def, {Change(1, "a", "UPSERT", "1"), Change(2, "b", "UPSERT", "1")}, &d)});
  ASSERT_TRUE(resp.at(0).has_append_result());
  emu_->Kill();
  EXPECT_EQ(DumpRows("t").size(), 2u);  // dump without a server
  StartEmulator();
  resp = Append({Request(def, {Change(3, "c", "UPSERT", "1")}, &d)});
  ASSERT_TRUE(resp.at(0).has_append_result());
  EXPECT_EQ(DumpRows("t").size(), 3u);  // dump with the server running
}

TEST_F(ServerTest, ConcurrentAppendersAndPaging) {
  CreateTable("t", false);
  std::string def = TablePath("t") + "/streams/_default";
  DescriptorProto d = RowType(false);
  constexpr int kThreads = 4, kRequests = 25, kRows = 10;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<storage::AppendRowsRequest> reqs;
      for (int i = 0; i < kRequests; ++i) {
        std::vector<std::string> rows;
        for (int r = 0; r < kRows; ++r)
          rows.push_back(Row((t * kRequests + i) * kRows + r, "x"));
        reqs.push_back(Request(i == 0 ? def : "", rows, i == 0 ? &d : nullptr));
      }
      for (const auto& r : Append(reqs))
        ok += r.has_append_result() ? 1 : 0;
    });
  }
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(ok.load(), kThreads * kRequests);
  auto rows = DumpRows("t");
  ASSERT_EQ(rows.size(), static_cast<size_t>(kThreads * kRequests * kRows));
  EXPECT_EQ(rows.front()["id"], "0");  // sorted numerically, not as text
  EXPECT_EQ(rows.back()["id"], std::to_string(kThreads * kRequests * kRows - 1));
  // tabledata.list pages through all of them.
  int st = 0;
  size_t seen = 0;
  std::string token;
  do {
    std::string path = "/bigquery/v2/projects/p/datasets/d/tables/t/data?maxResults=300";
    if (!token.empty()) path += "&pageToken=" + token;
    json page = Call("GET", path, nullptr, &st);
    ASSERT_EQ(st, 200);
    EXPECT_EQ(page["totalRows"], std::to_string(rows.size()));
    seen += page["rows"].size();
    token = page.value("pageToken", "");
  } while (!token.empty());
  EXPECT_EQ(seen, rows.size());
}

TEST_F(ServerTest, DefaultStreamsOfSeveralTablesShareAConnection) {
  CreateTable("a", false);
  CreateTable("b", false);
  DescriptorProto d = RowType(false);
  std::string a = TablePath("a") + "/streams/_default";
  std::string b = TablePath("b") + "/streams/_default";
  auto resp = Append({Request(a, {Row(1, "a1")}, &d), Request(b, {Row(2, "b1")}, &d),
                      Request("", {Row(3, "b2")}, nullptr),   // stays on b
                      Request(a, {Row(4, "a2")}, nullptr)});  // back to a, its schema kept
  ASSERT_EQ(resp.size(), 4u);
  for (const auto& r : resp)
    EXPECT_TRUE(r.has_append_result()) << r.DebugString();
  EXPECT_EQ(resp[1].write_stream(), b);
  EXPECT_EQ(DumpRows("a").size(), 2u);
  EXPECT_EQ(DumpRows("b").size(), 2u);
  // An explicit stream cannot be switched away from.
  std::string s = CreateStream("a", storage::WriteStream::COMMITTED);
  grpc::Status st;
  resp = Append({Request(s, {Row(5, "x")}, &d), Request(b, {Row(6, "y")}, &d)}, &st);
  EXPECT_EQ(resp.size(), 1u);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

// One request of good and bad rows for a keyed table: every row-level refusal
// the emulator makes, each once.
std::vector<std::string> MixedChangeRows() {
  return {
      Change(1, "ok", "UPSERT", "1"),
      Change(2, "bad \xc3\x28 utf-8", "UPSERT", "1"),
      Change(3, "x", "MERGE", "1"),
      Change(4, "x", "UPSERT", "1/zz"),
      StrField(2, "no key") + StrField(3, "UPSERT") + StrField(4, "2"),  // NULL primary key
      Row(5, "sequence without type") + StrField(4, "3"),
      Row(6, "unknown field") + IntField(12, 1),
      std::string("\xff\xff\xff", 3),  // malformed
      Change(7, "ok", "delete", "0/1"),
  };
}

// The row errors of a response as "index code message" lines.
std::vector<std::string> RowErrors(const storage::AppendRowsResponse& resp) {
  std::vector<std::string> out;
  for (const auto& e : resp.row_errors()) {
    out.push_back(std::to_string(e.index()) + " " + storage::RowError::RowErrorCode_Name(e.code()) +
                  " " + e.message());
  }
  return out;
}

TEST_F(ServerTest, NoStorageModeValidatesButKeepsNothing) {
  // The same request against a storing emulator first: the no-storage one
  // must refuse exactly the same rows with exactly the same messages.
  CreateTable("k", true);
  DescriptorProto cdc = RowType(true);
  std::string keyed = TablePath("k") + "/streams/_default";
  auto stored = Append({Request(keyed, MixedChangeRows(), &cdc)});
  ASSERT_EQ(stored.size(), 1u);
  std::vector<std::string> stored_errors = RowErrors(stored[0]);
  ASSERT_EQ(stored_errors.size(), 7u) << ::testing::PrintToString(stored_errors);
  for (int i = 0; i < 7; ++i)
    EXPECT_EQ(stored[0].row_errors(i).index(), i + 1);
  EXPECT_NE(stored_errors[2].find("_CHANGE_SEQUENCE_NUMBER '1/zz'"), std::string::npos);
  EXPECT_NE(stored_errors[3].find("Primary key column id is NULL in a UPSERT row"),
            std::string::npos);

  emu_->Kill();
  StartEmulator({"--no-storage"});
  CreateTable("t", false);  // "k" is still there: the emulator keeps its tables
  std::string def = TablePath("t") + "/streams/_default";
  DescriptorProto d = RowType(false);
  DescriptorProto extra = RowType(false, true);
  auto resp = Append({Request(def, {Row(1, "a")}, &d)});
  EXPECT_TRUE(resp.at(0).has_append_result());
  resp = Append({Request(def, {Row(1, "a")}, &extra)});
  EXPECT_EQ(resp.at(0).error().code(), grpc::StatusCode::INVALID_ARGUMENT);

  resp = Append(
      {Request(keyed, MixedChangeRows(), &cdc),
       Request("", {Change(1, "ok", "UPSERT", "1"), Change(2, "ok", "DELETE", "2")}, nullptr)});
  ASSERT_EQ(resp.size(), 2u);
  EXPECT_EQ(resp[0].error().code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(RowErrors(resp[0]), stored_errors);
  EXPECT_TRUE(resp[1].has_append_result()) << resp[1].DebugString();

  // Offsets of an explicit stream still count the rows nobody keeps.
  std::string s = CreateStream("t", storage::WriteStream::COMMITTED);
  resp =
      Append({Request(s, {Row(1, "a"), Row(2, "b")}, &d, 0), Request("", {Row(3, "c")}, nullptr, 2),
              Request("", {Row(3, "c")}, nullptr, 2), Request("", {Row(4, "d")}, nullptr, 9),
              Request("", {Row(4, "\xff")}, nullptr, 3)});
  ASSERT_EQ(resp.size(), 5u);
  EXPECT_EQ(resp[0].append_result().offset().value(), 0);
  EXPECT_EQ(resp[1].append_result().offset().value(), 2);
  EXPECT_EQ(resp[2].error().code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(resp[3].error().code(), grpc::StatusCode::OUT_OF_RANGE);
  ASSERT_EQ(resp[4].row_errors_size(), 1);
  EXPECT_NE(resp[4].row_errors(0).message().find("invalid UTF-8"), std::string::npos);

  EXPECT_EQ(DumpRows("t").size(), 0u);
  EXPECT_EQ(DumpRows("k").size(), 0u);
}

}  // namespace
}  // namespace pg2bq::bqemu
