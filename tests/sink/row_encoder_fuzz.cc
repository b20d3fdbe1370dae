// libFuzzer: arbitrary bytes as the text and binary values of every column type the sink
// maps, through the row encoder (decoder decoding, BigQuery checks, array/hstore/decimal
// text work, wire encoding). Must never crash; a bad value is a rejection or a policy.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "sink/row_encoder.h"

namespace {

using namespace pg2bq::sink;

std::vector<std::unique_ptr<RowEncoder>> MakeEncoders() {
  static const std::uint32_t kTypes[] = {oid::kBool,
                                         oid::kInt8,
                                         oid::kFloat8,
                                         oid::kNumeric,
                                         oid::kMoney,
                                         oid::kText,
                                         oid::kBytea,
                                         oid::kJsonb,
                                         oid::kDate,
                                         oid::kTime,
                                         oid::kTimestamp,
                                         oid::kTimestamptz,
                                         oid::kInterval,
                                         oid::kUuid,
                                         oid::kTimetz,
                                         1007,
                                         1009,
                                         1231,
                                         1182,
                                         99999};
  std::vector<std::unique_ptr<RowEncoder>> out;
  for (int json_arrays = 0; json_arrays < 2; ++json_arrays) {
    SourceRelation r;
    r.oid = 1;
    r.schema = "public";
    r.name = "fuzz";
    SourceColumn key;
    key.name = "id";
    key.type_oid = oid::kInt4;
    key.is_key = true;
    r.columns.push_back(key);
    for (auto t : kTypes) {
      SourceColumn c;
      c.name = "c" + std::to_string(t);
      c.type_oid = t;
      if (t == 99999) c.type_name = "hstore";
      if (t == oid::kNumeric) c.typmod = ((20 << 16) | 4) + 4;
      r.columns.push_back(c);
    }
    DescriptorOptions o;
    if (json_arrays) o.mapping.arrays = MappingOptions::Arrays::kJson;
    auto d = BuildTableDescriptor(r, o, 1);
    if (!d.ok()) __builtin_trap();
    EncodePolicies p;
    if (json_arrays) {
      p.numeric_special = p.numeric_out_of_range = p.out_of_range = p.array_null_element =
          p.array_multidimensional = p.invalid_utf8 = p.invalid_value = ValuePolicy::kNull;
    }
    out.push_back(std::make_unique<RowEncoder>(*d, p));
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static auto encoders = MakeEncoders();
  if (size < 2) return 0;
  const std::size_t column = 1 + data[0] % 20;  // which value column gets the bytes
  const bool binary = data[1] & 1;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 2, size - 2);
  for (auto& enc : encoders) {
    std::vector<SourceValue> values(enc->descriptor().columns.size(), SourceValue::Null());
    values[0] = SourceValue::Text("1");
    values[column] = SourceValue{binary ? ValueState::kBinary : ValueState::kText, bytes};
    SourceChange change;
    change.new_values = values;
    EncodedBatch batch;
    (void)enc->Encode(change, &batch);
  }
  return 0;
}
