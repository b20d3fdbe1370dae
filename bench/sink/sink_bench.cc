// sink_bench [rows]: prints
//  1. encoder throughput on the mixed row (bigint key, int, text, numeric, timestamptz, bool,
//     jsonb, uuid): rows/s and MB/s of encoded output;
//  2. end-to-end AppendRows throughput of TableWriter into `bq-emulator --no-storage`, and of a
//     minimal client (generated stub, one writer thread + one reader thread, no retries, no
//     bookkeeping) sending the same pre-encoded rows in the same run; the ratio of the two.
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "google/cloud/bigquery/storage/v1/storage.grpc.pb.h"
#include "sink/append_rows_writer.h"
#include "sink/row_encoder.h"
#include "sink/table_manager.h"
#include "tests/bq_emulator/emulator_process.h"

using namespace pg2bq;
using namespace pg2bq::sink;
namespace bqs = google::cloud::bigquery::storage::v1;
using Clock = std::chrono::steady_clock;

namespace {

SourceColumn Col(std::string name, std::uint32_t type, bool key = false, std::int32_t typmod = -1) {
  SourceColumn c;
  c.name = std::move(name);
  c.type_oid = type;
  c.is_key = key;
  c.typmod = typmod;
  return c;
}

SourceRelation MixedTable() {
  SourceRelation r;
  r.oid = 1;
  r.schema = "public";
  r.name = "mixed";
  r.columns = {
      Col("id", oid::kInt8, true),  Col("qty", oid::kInt4),
      Col("name", oid::kText),      Col("price", oid::kNumeric, false, ((12 << 16) | 2) + 4),
      Col("at", oid::kTimestamptz), Col("ok", oid::kBool),
      Col("doc", oid::kJsonb),      Col("ref", oid::kUuid)};
  return r;
}

// Text values of row i, as pgoutput sends them.
struct MixedRow {
  std::string id, qty, name, price, at, doc, ref;
  void Fill(std::uint64_t i) {
    id = std::to_string(i);
    qty = std::to_string(i % 1000);
    name = "customer name number " + std::to_string(i % 97);
    price = std::to_string(i % 100000) + "." + std::to_string(10 + i % 90);
    at = "2024-03-" + std::to_string(10 + i % 18) + " 12:34:56.123456+00";
    doc = R"({"k": )" + std::to_string(i % 13) + R"(, "tags": ["a", "b"], "ok": true})";
    char buf[40];
    std::snprintf(buf, sizeof buf, "%08llx-9c0b-4ef8-bb6d-6bb9bd380a11",
                  static_cast<unsigned long long>(i & 0xffffffff));
    ref = buf;
  }
};

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

double Seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// Encodes `rows` rows into batches of `per_batch`.
std::vector<EncodedBatch> EncodeAll(RowEncoder& enc, std::uint64_t rows, std::uint64_t per_batch,
                                    double* seconds, double* cpu_seconds, std::uint64_t* bytes) {
  std::vector<EncodedBatch> batches;
  // Input texts are made before the clock starts: only encoding is measured.
  std::vector<MixedRow> input(rows);
  for (std::uint64_t i = 0; i < rows; ++i)
    input[i].Fill(i);
  std::vector<SourceValue> v(8);
  const auto t0 = Clock::now();
  const double c0 = ThreadCpuSeconds();
  EncodedBatch* b = nullptr;
  for (std::uint64_t i = 0; i < rows; ++i) {
    if (i % per_batch == 0) {
      batches.emplace_back();
      b = &batches.back();
      b->proto_rows.reserve(per_batch * 220);
      b->rows.reserve(per_batch);
    }
    const MixedRow& m = input[i];
    v = {SourceValue::Text(m.id),    SourceValue::Text(m.qty), SourceValue::Text(m.name),
         SourceValue::Text(m.price), SourceValue::Text(m.at),  SourceValue::Text("t"),
         SourceValue::Text(m.doc),   SourceValue::Text(m.ref)};
    SourceChange c;
    c.kind = ChangeKind::kInsert;
    c.commit_lsn = 0x1000000 + i;
    c.new_values = v;
    auto r = enc.Encode(c, b);
    if (r.outcome != EncodeResult::Outcome::kEncoded) {
      std::fprintf(stderr, "encode failed: %s\n", r.reason.c_str());
      std::exit(1);
    }
  }
  *seconds = Seconds(Clock::now() - t0);
  *cpu_seconds = ThreadCpuSeconds() - c0;
  *bytes = 0;
  for (const auto& x : batches)
    *bytes += x.proto_rows.size();
  return batches;
}

// Generated-stub client: pre-built requests, one thread writes, one reads.
double MinimalClient(const std::shared_ptr<grpc::Channel>& channel, const std::string& stream_name,
                     const TableDescriptor& d, const std::vector<EncodedBatch>& batches,
                     std::size_t rows_per_request, std::uint64_t* acked) {
  std::vector<bqs::AppendRowsRequest> reqs;
  for (const auto& b : batches) {
    for (std::size_t i = 0; i < b.rows.size(); i += rows_per_request) {
      bqs::AppendRowsRequest r;
      if (reqs.empty()) {
        r.set_write_stream(stream_name);
        *r.mutable_proto_rows()->mutable_writer_schema()->mutable_proto_descriptor() = d.proto;
      }
      auto* rows = r.mutable_proto_rows()->mutable_rows();
      for (std::size_t k = i; k < std::min(b.rows.size(), i + rows_per_request); ++k) {
        auto m = b.RowMessage(k);
        rows->add_serialized_rows(m.data(), m.size());
      }
      reqs.push_back(std::move(r));
    }
  }
  auto stub = bqs::BigQueryWrite::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.AddMetadata("x-goog-request-params", "write_stream=" + stream_name);
  const auto t0 = Clock::now();
  auto stream = stub->AppendRows(&ctx);
  std::thread writer([&] {
    for (const auto& r : reqs)
      if (!stream->Write(r)) break;
    stream->WritesDone();
  });
  bqs::AppendRowsResponse resp;
  std::size_t n = 0;
  *acked = 0;
  while (n < reqs.size() && stream->Read(&resp)) {
    if (resp.has_error())
      std::fprintf(stderr, "minimal client: %s\n", resp.error().message().c_str());
    *acked += static_cast<std::uint64_t>(reqs[n].proto_rows().rows().serialized_rows_size());
    ++n;
  }
  writer.join();
  const double s = Seconds(Clock::now() - t0);
  (void)stream->Finish();
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t rows = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1'000'000;
  auto d = *BuildTableDescriptor(MixedTable(), {}, 1);
  RowEncoder enc(d, {});

  // 1. Encoder (best of 3).
  double best = 1e30, best_cpu = 1e30, secs = 0, cpu = 0;
  std::uint64_t bytes = 0;
  std::vector<EncodedBatch> batches;
  for (int rep = 0; rep < 3; ++rep) {
    batches = EncodeAll(enc, rows, 100000, &secs, &cpu, &bytes);
    best = std::min(best, secs);
    best_cpu = std::min(best_cpu, cpu);
  }
  std::printf(
      "encoder: %llu mixed rows in %.3f s: %.0f rows/s, %.1f MB/s encoded (%.1f bytes/row)\n",
      static_cast<unsigned long long>(rows), best, rows / best, bytes / best / 1e6,
      static_cast<double>(bytes) / rows);
  std::printf("encoder CPU: %.3f s: %.0f rows/s, %.1f MB/s, %.0f ns/row\n", best_cpu,
              rows / best_cpu, bytes / best_cpu / 1e6, best_cpu * 1e9 / rows);

  // 2. End to end into bq-emulator --no-storage.
  bqemu::TempDir dir;
  bqemu::EmulatorProcess emu(BQ_EMULATOR_BINARY, dir.path() + "/data");
  Status s = emu.Start({"--no-storage"});
  if (!s.ok()) {
    std::printf("end-to-end: skipped, bq-emulator did not start: %s\n", s.ToString().c_str());
    return 0;
  }
  TableManagerOptions mo;
  mo.base_url = "http://127.0.0.1:" + std::to_string(emu.http_port());
  mo.project = "bench";
  mo.dataset = "ds";
  TableManager manager(mo);
  auto sync = manager.EnsureTable(*d);
  if (!sync.ok()) {
    std::fprintf(stderr, "EnsureTable: %s\n", sync.status().ToString().c_str());
    return 1;
  }
  auto channel = MakeWriteChannel({emu.grpc_target(), true, nullptr});
  const std::string table_path = manager.TablePath(TableManager::TableIdFor(*d));
  WriterOptions wo;
  wo.max_request_bytes = 2'000'000;  // pipelining needs several requests per batch
  wo.max_in_flight = 8;
  const std::size_t rows_per_request = wo.max_request_bytes / (bytes / rows + 1) * 95 / 100;

  double ours_best = 1e30, base_best = 1e30;
  for (int rep = 0; rep < 3; ++rep) {
    TableWriter w(channel, nullptr, table_path, wo, nullptr);
    Cancellation cancel;
    const auto t0 = Clock::now();
    for (const auto& b : batches) {
      Status st = w.Append(*d, b, cancel);
      if (!st.ok()) {
        std::fprintf(stderr, "Append: %s\n", st.ToString().c_str());
        return 1;
      }
    }
    ours_best = std::min(ours_best, Seconds(Clock::now() - t0));
    std::uint64_t acked = 0;
    base_best = std::min(base_best, MinimalClient(channel, table_path + "/streams/_default", *d,
                                                  batches, rows_per_request, &acked));
    if (acked != rows)
      std::fprintf(stderr, "minimal client acked %llu rows\n",
                   static_cast<unsigned long long>(acked));
  }
  std::printf("end-to-end TableWriter: %.0f rows/s, %.1f MB/s (best of 3)\n", rows / ours_best,
              bytes / ours_best / 1e6);
  std::printf("end-to-end minimal client: %.0f rows/s, %.1f MB/s (best of 3, ~%zu rows/request)\n",
              rows / base_best, bytes / base_best / 1e6, rows_per_request);
  std::printf("ratio TableWriter / minimal client: %.2f (target >= 0.9)\n", base_best / ours_best);
  return 0;
}
