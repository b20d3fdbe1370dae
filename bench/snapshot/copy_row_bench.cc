// copy_row_bench (Google Benchmark): the CPU a copy worker spends per row, without
// PostgreSQL, the disk or the emulator in the measurement -- so a change to the copy path can
// be measured on a shared machine, where the end-to-end run_snapshot_bench varies by +-20%.
//
// The rows are those of run_snapshot_bench (bigint key, int, text, timestamptz, numeric,
// float8) in PostgreSQL's binary COPY format, built in memory:
//   BM_ParseEncode       BinaryCopyParser -> RowEncoder (CDC row with _CHANGE_TYPE and
//                        _CHANGE_SEQUENCE_NUMBER), as TableCopier::CopyChunk does
//   BM_Compress/LEVEL    zstd of the encoded rows in 1 MiB records at spool.compression_level
//   BM_Decompress/LEVEL  the flusher reading them back
#include <benchmark/benchmark.h>

#include <bit>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "agent/snapshot/binary_copy_parser.h"
#include "common/status.h"
#include "decoder/pg_type.h"
#include "sink/encoded_batch.h"
#include "sink/row_encoder.h"
#include "sink/table_descriptor.h"
#include "spool/compression.h"

namespace pg2bq {
namespace {

constexpr int kRows = 20000;
constexpr std::size_t kRecordBytes = 1 << 20;  // snapshot.batch_max_bytes' default

void PutBe16(std::string* out, std::uint16_t v) {
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v));
}
void PutBe32(std::string* out, std::uint32_t v) {
  PutBe16(out, static_cast<std::uint16_t>(v >> 16));
  PutBe16(out, static_cast<std::uint16_t>(v));
}
void PutBe64(std::string* out, std::uint64_t v) {
  PutBe32(out, static_cast<std::uint32_t>(v >> 32));
  PutBe32(out, static_cast<std::uint32_t>(v));
}
void Field(std::string* out, const std::string& bytes) {
  PutBe32(out, static_cast<std::uint32_t>(bytes.size()));
  out->append(bytes);
}

// numeric's send() form for INTEGER.F (one fraction digit, dscale 1): base-10000 groups.
std::string NumericSend(std::uint64_t integer, int tenths) {
  std::uint16_t groups[8];
  int n = 0;
  for (std::uint64_t v = integer; v != 0; v /= 10000)
    groups[n++] = static_cast<std::uint16_t>(v % 10000);  // least significant first
  const int ndigits = n + (tenths != 0 ? 1 : 0);
  std::string out;
  PutBe16(&out, static_cast<std::uint16_t>(ndigits));
  PutBe16(&out, static_cast<std::uint16_t>(static_cast<std::int16_t>(n - 1)));  // weight
  PutBe16(&out, 0);                                                             // positive
  PutBe16(&out, 1);                                                             // dscale
  for (int i = n - 1; i >= 0; --i)
    PutBe16(&out, groups[i]);
  if (tenths != 0) PutBe16(&out, static_cast<std::uint16_t>(tenths * 1000));
  return out;
}

// The rows of run_snapshot_bench's table from the middle of its 5,000,000:
// g, g % 1000, 'row number ' || g, '2020-01-01 UTC' + g seconds, g * 1.5, g / 7.0.
std::string BinaryCopyOf(int rows) {
  std::string out("PGCOPY\n\377\r\n\0", 11);
  PutBe32(&out, 0);  // flags
  PutBe32(&out, 0);  // header extension length
  for (int i = 0; i < rows; ++i) {
    const std::uint64_t g = 2500000 + static_cast<std::uint64_t>(i);
    PutBe16(&out, 6);
    std::string v;
    PutBe64(&v, g);
    Field(&out, v);
    v.clear();
    PutBe32(&v, static_cast<std::uint32_t>(g % 1000));
    Field(&out, v);
    Field(&out, "row number " + std::to_string(g));
    v.clear();
    PutBe64(&v, (631152000ULL + g) * 1000000);  // microseconds since 2000-01-01
    Field(&out, v);
    Field(&out, NumericSend(g * 3 / 2, g % 2 ? 5 : 0));
    v.clear();
    PutBe64(&v, std::bit_cast<std::uint64_t>(static_cast<double>(g) / 7.0));
    Field(&out, v);
  }
  PutBe16(&out, 0xFFFF);  // trailer
  return out;
}

sink::SourceColumn Col(std::string name, std::uint32_t type, bool key = false,
                       std::int32_t typmod = -1) {
  sink::SourceColumn c;
  c.name = std::move(name);
  c.type_oid = type;
  c.is_key = key;
  c.typmod = typmod;
  return c;
}

std::shared_ptr<const sink::TableDescriptor> Descriptor() {
  sink::SourceRelation r;
  r.oid = 16384;
  r.schema = "public";
  r.name = "big";
  r.columns = {Col("id", pg_oid::kInt8, true), Col("qty", pg_oid::kInt4),
               Col("name", pg_oid::kText),     Col("at", pg_oid::kTimestampTz),
               Col("price", pg_oid::kNumeric), Col("score", pg_oid::kFloat8)};
  auto d = sink::BuildTableDescriptor(r, {}, 1);
  if (!d.ok()) std::abort();
  return *d;
}

// Parses `copy` and encodes every tuple as TableCopier::CopyChunk does (one sequence number
// for every copied row), handing each record of about kRecordBytes of encoded rows to
// `on_record`, which may move its bytes away. Returns the rows encoded.
template <typename OnRecord>
Result<std::uint64_t> ParseEncode(std::string_view copy,
                                  const std::shared_ptr<const sink::TableDescriptor>& descriptor,
                                  OnRecord&& on_record) {
  sink::RowEncoder encoder(descriptor, {});
  agent::snapshot::BinaryCopyParser parser(6);
  parser.Feed(copy);
  std::vector<agent::snapshot::CopyField> fields;
  std::vector<sink::SourceValue> values(6);
  sink::SourceChange change;
  change.commit_lsn = 0x37F41747;
  sink::EncodedBatch batch;
  std::uint64_t rows = 0;
  while (true) {
    PG2BQ_ASSIGN_OR_RETURN(const auto step, parser.Next(&fields));
    if (step != agent::snapshot::BinaryCopyParser::Step::kTuple) break;
    for (std::size_t i = 0; i < 6; ++i)
      values[i] = {sink::ValueState::kBinary, fields[i].bytes};
    change.new_values = values;
    auto r = encoder.Encode(change, &batch);
    if (r.outcome != sink::EncodeResult::Outcome::kEncoded)
      return Status::InvalidArgument("row not encoded: " + r.reason);
    ++rows;
    if (batch.proto_rows.size() >= kRecordBytes) {
      on_record(batch.proto_rows);
      batch.proto_rows.clear();
      batch.rows.clear();
    }
  }
  if (!batch.proto_rows.empty()) on_record(batch.proto_rows);
  return rows;
}

// What the copy appends to the spool: encoded rows cut into records of kRecordBytes.
std::vector<std::string> EncodedRecords() {
  std::vector<std::string> records;
  auto rows = ParseEncode(BinaryCopyOf(kRows), Descriptor(),
                          [&](std::string& r) { records.push_back(std::move(r)); });
  if (!rows.ok()) std::abort();
  return records;
}

void BM_ParseEncode(benchmark::State& state) {
  const std::string copy = BinaryCopyOf(kRows);
  const auto descriptor = Descriptor();
  std::uint64_t rows = 0, encoded_bytes = 0;
  for (auto _ : state) {
    auto r = ParseEncode(copy, descriptor, [&](std::string& record) {
      encoded_bytes += record.size();
      benchmark::DoNotOptimize(record.data());
    });
    if (!r.ok()) {
      state.SkipWithError(r.status().ToString().c_str());
      return;
    }
    rows += *r;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(rows));
  state.counters["encoded_bytes_per_row"] =
      static_cast<double>(encoded_bytes) / static_cast<double>(rows);
}
BENCHMARK(BM_ParseEncode)->Unit(benchmark::kMillisecond);

void BM_Compress(benchmark::State& state) {
  const auto records = EncodedRecords();
  spool::Compressor compressor(static_cast<int>(state.range(0)));
  std::uint64_t raw = 0, compressed = 0;
  std::string out;
  for (auto _ : state) {
    for (const auto& r : records) {
      out.clear();
      if (!compressor.Compress(r, &out).ok()) {
        state.SkipWithError("compress failed");
        return;
      }
      raw += r.size();
      compressed += out.size();
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * kRows);
  state.SetBytesProcessed(static_cast<std::int64_t>(raw));
  state.counters["ratio"] = static_cast<double>(raw) / static_cast<double>(compressed);
}
BENCHMARK(BM_Compress)->Arg(1)->Arg(-1)->Arg(-3)->Unit(benchmark::kMillisecond);

void BM_Decompress(benchmark::State& state) {
  const auto records = EncodedRecords();
  spool::Compressor compressor(static_cast<int>(state.range(0)));
  std::vector<std::string> frames(records.size());
  for (std::size_t i = 0; i < records.size(); ++i)
    if (!compressor.Compress(records[i], &frames[i]).ok()) std::abort();
  spool::Decompressor decompressor;
  std::string out;
  std::uint64_t raw = 0;
  for (auto _ : state) {
    for (std::size_t i = 0; i < frames.size(); ++i) {
      out.clear();
      if (!decompressor.Decompress(frames[i], records[i].size(), &out).ok()) {
        state.SkipWithError("decompress failed");
        return;
      }
      raw += out.size();
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * kRows);
  state.SetBytesProcessed(static_cast<std::int64_t>(raw));
}
BENCHMARK(BM_Decompress)->Arg(1)->Arg(-1)->Arg(-3)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace pg2bq

BENCHMARK_MAIN();
