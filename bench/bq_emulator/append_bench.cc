// Append throughput into bq-emulator over real gRPC on loopback: one AppendRows
// connection on the _default stream, requests pipelined (several in flight),
// measured from the first request sent to the last response received. Runs the
// emulator with storage (SQLite) and with --no-storage, and prints both and
// their ratio, so sink benchmarks know how much of a figure is the emulator.
//
//   bq_emulator_append_bench [rows=200000] [rows_per_request=500] [inflight=8] [cdc=1]
//                            [modes=both|storage|no-storage] [shape=narrow|e2e]
//
// shape narrow: id INT64, 2 STRING, NUMERIC (string), TIMESTAMP (int64 µs).
// shape e2e: the row of bench/e2e and bench/snapshot as pg2bq sends it (bigint,
// int, text, numeric, timestamptz, bool, jsonb, uuid -> INT64, INT64, STRING,
// NUMERIC as string, TIMESTAMP as int64, BOOL, JSON as string, STRING).
//
// One mode alone is for profiling the emulator (perf record -- ... no-storage).
#include <google/protobuf/descriptor.pb.h>
#include <grpcpp/grpcpp.h>
#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "google/cloud/bigquery/storage/v1/storage.grpc.pb.h"
#include "tests/bq_emulator/emulator_process.h"
#include "tests/bq_emulator/wire_fields.h"

namespace {

namespace storage = google::cloud::bigquery::storage::v1;
using google::protobuf::FieldDescriptorProto;
using pg2bq::bqemu::EmulatorProcess;
using pg2bq::bqemu::TempDir;

using pg2bq::bqemu::testing::IntField;
using pg2bq::bqemu::testing::StrField;
using pg2bq::bqemu::testing::Varint;

struct Figures {
  double seconds = 0;
  int64_t rows = 0;
  int64_t bytes = 0;
  int64_t errors = 0;
};

nlohmann::json Field(const char* name, const char* type, const char* mode = "NULLABLE") {
  return {{"name", name}, {"type", type}, {"mode", mode}};
}

bool CreateTable(int http_port, bool e2e) {
  httplib::Client http("127.0.0.1", http_port);
  http.set_read_timeout(10, 0);
  nlohmann::json ds = {{"datasetReference", {{"datasetId", "bench"}}}};
  auto r1 = http.Post("/bigquery/v2/projects/p/datasets", ds.dump(), "application/json");
  nlohmann::json fields =
      e2e ? nlohmann::json::array({Field("id", "INTEGER", "REQUIRED"), Field("n", "INTEGER"),
                                   Field("txt", "STRING"), Field("amount", "NUMERIC"),
                                   Field("ts", "TIMESTAMP"), Field("flag", "BOOL"),
                                   Field("doc", "JSON"), Field("uid", "STRING")})
          : nlohmann::json::array({Field("id", "INTEGER", "REQUIRED"), Field("name", "STRING"),
                                   Field("email", "STRING"), Field("amount", "NUMERIC"),
                                   Field("updated", "TIMESTAMP")});
  nlohmann::json t = {{"tableReference", {{"tableId", "t"}}},
                      {"schema", {{"fields", fields}}},
                      {"tableConstraints", {{"primaryKey", {{"columns", {"id"}}}}}}};
  auto r2 =
      http.Post("/bigquery/v2/projects/p/datasets/bench/tables", t.dump(), "application/json");
  return r1 && r1->status == 200 && r2 && r2->status == 200;
}

std::string E2eRow(int64_t id) {
  char uid[64];
  std::snprintf(uid, sizeof uid, "%08llx-0000-4000-8000-%012llx",
                static_cast<unsigned long long>(id & 0xffffffff),
                static_cast<unsigned long long>(id));
  return IntField(1, id) + IntField(2, id % 1000) +
         StrField(3, "row " + std::to_string(id) + " of the e2e benchmark table") +
         StrField(4, std::to_string(id % 100000) + ".25") + IntField(5, 1700000000000000 + id) +
         IntField(6, id % 2) +
         StrField(7, R"({"id": )" + std::to_string(id) +
                         R"(, "tags": ["a", "b"], "nested": {"x": 1.5, "ok": true}})") +
         StrField(8, uid);
}

Figures Run(const std::string& target, int64_t total_rows, int per_request, int inflight, bool cdc,
            bool e2e) {
  auto channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  auto stub = storage::BigQueryWrite::NewStub(channel);
  google::protobuf::DescriptorProto d;
  d.set_name("Row");
  auto add = [&](const char* name, int n, FieldDescriptorProto::Type type) {
    auto* f = d.add_field();
    f->set_name(name);
    f->set_number(n);
    f->set_type(type);
    f->set_label(FieldDescriptorProto::LABEL_OPTIONAL);
  };
  using F = FieldDescriptorProto;
  if (e2e) {
    add("id", 1, F::TYPE_INT64);
    add("n", 2, F::TYPE_INT64);
    add("txt", 3, F::TYPE_STRING);
    add("amount", 4, F::TYPE_STRING);
    add("ts", 5, F::TYPE_INT64);
    add("flag", 6, F::TYPE_BOOL);
    add("doc", 7, F::TYPE_STRING);
    add("uid", 8, F::TYPE_STRING);
  } else {
    add("id", 1, F::TYPE_INT64);
    add("name", 2, F::TYPE_STRING);
    add("email", 3, F::TYPE_STRING);
    add("amount", 4, F::TYPE_STRING);
    add("updated", 5, F::TYPE_INT64);
  }
  const int cdc_field = e2e ? 9 : 6;
  if (cdc) {
    add("_CHANGE_TYPE", cdc_field, F::TYPE_STRING);
    add("_CHANGE_SEQUENCE_NUMBER", cdc_field + 1, F::TYPE_STRING);
  }
  // Build all requests up front: the figure is the emulator, not encoding.
  std::vector<storage::AppendRowsRequest> reqs;
  Figures fig;
  for (int64_t id = 0; id < total_rows;) {
    storage::AppendRowsRequest req;
    if (reqs.empty()) {
      req.set_write_stream("projects/p/datasets/bench/tables/t/streams/_default");
      *req.mutable_proto_rows()->mutable_writer_schema()->mutable_proto_descriptor() = d;
    }
    auto* rows = req.mutable_proto_rows()->mutable_rows();
    for (int i = 0; i < per_request && id < total_rows; ++i, ++id) {
      char seq[40];
      std::snprintf(seq, sizeof seq, "%016llX/%016llX",
                    0x1000000ULL + static_cast<unsigned long long>(id), 1ULL);
      std::string row = e2e ? E2eRow(id)
                            : IntField(1, id) + StrField(2, "customer name " + std::to_string(id)) +
                                  StrField(3, "user" + std::to_string(id) + "@example.com") +
                                  StrField(4, std::to_string(id % 100000) + ".25") +
                                  IntField(5, 1700000000000000 + id);
      if (cdc) row += StrField(cdc_field, "UPSERT") + StrField(cdc_field + 1, seq);
      fig.bytes += static_cast<int64_t>(row.size());
      rows->add_serialized_rows(std::move(row));
    }
    reqs.push_back(std::move(req));
  }
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(10));
  auto stream = stub->AppendRows(&ctx);
  std::mutex mu;
  std::condition_variable cv;
  int outstanding = 0;
  auto start = std::chrono::steady_clock::now();
  std::thread reader([&] {
    storage::AppendRowsResponse resp;
    for (size_t i = 0; i < reqs.size() && stream->Read(&resp); ++i) {
      if (!resp.has_append_result()) ++fig.errors;
      std::lock_guard lock(mu);
      --outstanding;
      cv.notify_one();
    }
  });
  for (const auto& r : reqs) {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return outstanding < inflight; });
    ++outstanding;
    lock.unlock();
    if (!stream->Write(r)) break;
  }
  stream->WritesDone();
  reader.join();
  fig.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  grpc::Status st = stream->Finish();
  if (!st.ok()) std::fprintf(stderr, "AppendRows ended with %s\n", st.error_message().c_str());
  fig.rows = total_rows;
  return fig;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t rows = argc > 1 ? std::atoll(argv[1]) : 200000;
  int per_request = argc > 2 ? std::atoi(argv[2]) : 500;
  int inflight = argc > 3 ? std::atoi(argv[3]) : 8;
  bool cdc = argc > 4 ? std::atoi(argv[4]) != 0 : true;
  std::string modes = argc > 5 ? argv[5] : "both";
  std::string shape = argc > 6 ? argv[6] : "narrow";
  if (rows <= 0 || per_request <= 0 || inflight <= 0 ||
      (modes != "both" && modes != "storage" && modes != "no-storage") ||
      (shape != "narrow" && shape != "e2e")) {
    std::fprintf(stderr,
                 "usage: %s [rows] [rows_per_request] [inflight] [cdc 0|1] "
                 "[both|storage|no-storage] [narrow|e2e]\n",
                 argv[0]);
    return 2;
  }
  const bool e2e = shape == "e2e";
  std::printf("bq-emulator append: %lld rows, %d rows/request, %d in flight, %s %s rows\n",
              static_cast<long long>(rows), per_request, inflight, cdc ? "CDC UPSERT" : "plain",
              shape.c_str());
  double rate[2] = {0, 0};
  for (int mode = 0; mode < 2; ++mode) {
    if ((mode == 0 && modes == "no-storage") || (mode == 1 && modes == "storage")) continue;
    TempDir dir;
    EmulatorProcess emu(BQ_EMULATOR_BINARY, dir.path());
    std::vector<std::string> args;
    if (mode == 1) args.push_back("--no-storage");
    auto st = emu.Start(args);
    if (!st.ok() || !CreateTable(emu.http_port(), e2e)) {
      std::fprintf(stderr, "cannot start bq-emulator or create the table: %s\n",
                   st.ToString().c_str());
      return 1;
    }
    Figures f = Run(emu.grpc_target(), rows, per_request, inflight, cdc, e2e);
    rate[mode] = static_cast<double>(f.rows) / f.seconds;
    std::printf("  %-10s %10.0f rows/s  %7.1f MB/s  (%.2f s, %lld errors)\n",
                mode == 0 ? "storage" : "no-storage", rate[mode],
                static_cast<double>(f.bytes) / f.seconds / 1e6, f.seconds,
                static_cast<long long>(f.errors));
    std::fflush(stdout);
    if (f.errors) return 1;
  }
  if (modes == "both") std::printf("  no-storage / storage: %.2fx\n", rate[1] / rate[0]);
  return 0;
}
