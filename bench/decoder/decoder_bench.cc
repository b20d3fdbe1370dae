// Decoder throughput on the row of the end-to-end workload: bigint key, int,
// text, numeric, timestamptz, bool, jsonb, uuid. Each iteration decodes one
// transaction of 1000 Inserts (Begin, 1000 x Insert, Commit) exactly as
// pgoutput frames them, and turns every column into a typed PgValue
// (and, for the *Format variants, into PostgreSQL text as `pg2bq stream`
// prints it). Reports changes/s (items) and payload MB/s (bytes).
#include <benchmark/benchmark.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "decoder/pg_text_format.h"
#include "decoder/pgoutput_decoder.h"
#include "tests/decoder/message_builder.h"

namespace pg2bq {
namespace {

using testing::MessageBuilder;

constexpr Oid kRelid = 16500;
constexpr int kRowsPerTxn = 1000;

std::string RelationMessage() {
  MessageBuilder b('R');
  b.U32(kRelid).Str("public").Str("bench").U8('d').U16(8);
  const std::pair<const char*, Oid> cols[] = {{"id", pg_oid::kInt8},        {"k", pg_oid::kInt4},
                                              {"t", pg_oid::kText},         {"n", pg_oid::kNumeric},
                                              {"ts", pg_oid::kTimestampTz}, {"f", pg_oid::kBool},
                                              {"j", pg_oid::kJsonb},        {"u", pg_oid::kUuid}};
  for (const auto& [name, oid] : cols)
    b.U8(name == std::string("id")).Str(name).U32(oid).U32(0xffffffff);
  return b.str();
}

std::string Be(std::uint64_t v, int bytes) {
  std::string s;
  for (int i = bytes - 1; i >= 0; --i)
    s.push_back(static_cast<char>(v >> (8 * i)));
  return s;
}

struct Workload {
  std::vector<std::string> payloads;  // Relation, Begin, 1000 x Insert, Commit
  std::size_t txn_bytes = 0;          // bytes of Begin..Commit
};

Workload Build(bool binary) {
  Workload w;
  w.payloads.push_back(RelationMessage());
  w.payloads.push_back(MessageBuilder('B').U64(0x5000000).U64(0).U32(1234).str());
  std::mt19937_64 rng(42);
  for (int i = 0; i < kRowsPerTxn; ++i) {
    const std::int64_t id = 1000000 + i;
    const std::int32_t k = static_cast<std::int32_t>(rng() % 1000000);
    const std::string text = "customer-" + std::to_string(rng() % 100000) + " order note";
    const std::int64_t cents = static_cast<std::int64_t>(rng() % 100000000);
    const std::int64_t ts_us = 768000000000000LL + static_cast<std::int64_t>(rng() % 1000000000000);
    const bool flag = rng() % 2;
    const std::string json = R"({"sku": "A-)" + std::to_string(rng() % 1000) + R"(", "qty": )" +
                             std::to_string(rng() % 10) + "}";
    std::string uuid_raw;
    for (int j = 0; j < 16; ++j)
      uuid_raw.push_back(static_cast<char>(rng()));
    MessageBuilder b('I');
    b.U32(kRelid).U8('N').Cols(8);
    if (!binary) {
      // Text exactly as the server prints these values.
      std::string n = std::to_string(cents / 100) + "." + (cents % 100 < 10 ? "0" : "") +
                      std::to_string(cents % 100);
      std::string ts;
      AppendPgTimestamp(ts_us, true, &ts);
      std::array<std::uint8_t, 16> u{};
      std::memcpy(u.data(), uuid_raw.data(), 16);
      std::string uuid;
      AppendPgUuid(u, &uuid);
      b.Text(std::to_string(id))
          .Text(std::to_string(k))
          .Text(text)
          .Text(n)
          .Text(ts)
          .Text(flag ? "t" : "f")
          .Text(json)
          .Text(uuid);
    } else {
      // numeric with scale 2 in base-10000 digits: integer part, then the
      // two fractional decimal digits as one base-10000 digit.
      const std::int64_t whole = cents / 100, frac = cents % 100;
      std::string int_part;  // big-endian base-10000 digits, most significant first
      int ndigits = 0;
      for (std::int64_t x = whole; x > 0; x /= 10000) {
        int_part = Be(static_cast<std::uint64_t>(x % 10000), 2) + int_part;
        ++ndigits;
      }
      const int weight = ndigits - 1;
      std::string num = Be(static_cast<std::uint64_t>(ndigits + 1), 2) +
                        Be(static_cast<std::uint16_t>(weight), 2) + Be(0, 2) + Be(2, 2) + int_part +
                        Be(static_cast<std::uint64_t>(frac * 100), 2);
      b.Bin(Be(static_cast<std::uint64_t>(id), 8))
          .Bin(Be(static_cast<std::uint32_t>(k), 4))
          .Bin(text)
          .Bin(num)
          .Bin(Be(static_cast<std::uint64_t>(ts_us), 8))
          .Bin(std::string(1, flag ? 1 : 0))
          .Bin(std::string(1, '\x01') + json)
          .Bin(uuid_raw);
    }
    w.payloads.push_back(b.str());
  }
  w.payloads.push_back(MessageBuilder('C').U8(0).U64(0x5000000).U64(0x5000100).U64(0).str());
  for (std::size_t i = 1; i < w.payloads.size(); ++i)
    w.txn_bytes += w.payloads[i].size();
  return w;
}

// Decodes every column of every change into a reused PgValue; optionally
// formats it as text into a reused buffer.
class BenchHandler : public ChangeHandler {
 public:
  BenchHandler(PgoutputDecoder** d, bool format) : d_(d), format_(format) {}
  Status OnRelation(const Relation& rel, bool) override {
    types_.clear();
    for (const auto& c : rel.columns)
      types_.push_back((*d_)->types().Resolve(c.type_oid));
    return Status::Ok();
  }
  Status OnChange(const Change& c) override {
    const auto& cols = c.new_tuple->columns;
    for (std::size_t i = 0; i < cols.size(); ++i) {
      if (cols[i].state == ColumnState::kNull || cols[i].state == ColumnState::kUnchangedToast) {
        continue;
      }
      PG2BQ_RETURN_IF_ERROR(DecodePgValueInto(types_[i], cols[i], &value_));
      if (format_) {
        out_.clear();
        PG2BQ_RETURN_IF_ERROR(AppendPgText(value_, &out_));
        benchmark::DoNotOptimize(out_.data());
      }
      benchmark::DoNotOptimize(value_.int64);
    }
    return Status::Ok();
  }

 private:
  PgoutputDecoder** d_;
  bool format_;
  std::vector<PgType> types_;
  PgValue value_;
  std::string out_;
};

void Run(benchmark::State& state, bool binary, bool format) {
  Workload w = Build(binary);
  PgoutputDecoder* dp = nullptr;
  BenchHandler h(&dp, format);
  PgoutputDecoder d(&h);
  dp = &d;
  if (Status s = d.Decode(1, w.payloads[0]); !s.ok()) {
    state.SkipWithError(s.ToString().c_str());
    return;
  }
  for (auto _ : state) {
    for (std::size_t i = 1; i < w.payloads.size(); ++i) {
      Status s = d.Decode(i, w.payloads[i]);
      if (!s.ok()) {
        state.SkipWithError(s.ToString().c_str());
        return;
      }
    }
  }
  state.SetItemsProcessed(state.iterations() * kRowsPerTxn);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(w.txn_bytes));
  state.counters["bytes_per_change"] =
      static_cast<double>(w.txn_bytes) / static_cast<double>(kRowsPerTxn);
}

// Parse only: the pgoutput framing, no value decoding.
void RunParseOnly(benchmark::State& state, bool binary) {
  Workload w = Build(binary);
  PgoutputParser p;
  PgoutputMessage m;
  for (auto _ : state) {
    for (std::size_t i = 2; i + 1 < w.payloads.size(); ++i) {
      if (!p.Parse(w.payloads[i], &m).ok()) {
        state.SkipWithError("parse failed");
        return;
      }
      benchmark::DoNotOptimize(m.new_tuple.columns.data());
    }
  }
  state.SetItemsProcessed(state.iterations() * kRowsPerTxn);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(w.txn_bytes));
}

void BM_ParseOnly_Text(benchmark::State& s) {
  RunParseOnly(s, false);
}
void BM_ParseOnly_Binary(benchmark::State& s) {
  RunParseOnly(s, true);
}
void BM_DecodeTyped_Text(benchmark::State& s) {
  Run(s, false, false);
}
void BM_DecodeTyped_Binary(benchmark::State& s) {
  Run(s, true, false);
}
void BM_DecodeAndFormat_Text(benchmark::State& s) {
  Run(s, false, true);
}
void BM_DecodeAndFormat_Binary(benchmark::State& s) {
  Run(s, true, true);
}

BENCHMARK(BM_ParseOnly_Text);
BENCHMARK(BM_ParseOnly_Binary);
BENCHMARK(BM_DecodeTyped_Text);
BENCHMARK(BM_DecodeTyped_Binary);
BENCHMARK(BM_DecodeAndFormat_Text);
BENCHMARK(BM_DecodeAndFormat_Binary);

}  // namespace
}  // namespace pg2bq

BENCHMARK_MAIN();
