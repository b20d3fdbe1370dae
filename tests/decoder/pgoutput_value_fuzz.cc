// libFuzzer target: one column value of any supported type, text or binary.
// Input: [type selector][format: even=text, odd=binary][value bytes...].
// Decodes, formats back to text and walks array elements; for binary values
// that decode, formatting must succeed or fail with a Status (never crash).
#include <cstddef>
#include <cstdint>
#include <string>

#include "decoder/pg_text_format.h"
#include "decoder/pg_value.h"

namespace {

constexpr pg2bq::Oid kOids[] = {pg2bq::pg_oid::kBool,
                                pg2bq::pg_oid::kInt2,
                                pg2bq::pg_oid::kInt4,
                                pg2bq::pg_oid::kInt8,
                                pg2bq::pg_oid::kOid,
                                pg2bq::pg_oid::kFloat4,
                                pg2bq::pg_oid::kFloat8,
                                pg2bq::pg_oid::kNumeric,
                                pg2bq::pg_oid::kText,
                                pg2bq::pg_oid::kBytea,
                                pg2bq::pg_oid::kUuid,
                                pg2bq::pg_oid::kDate,
                                pg2bq::pg_oid::kTime,
                                pg2bq::pg_oid::kTimeTz,
                                pg2bq::pg_oid::kTimestamp,
                                pg2bq::pg_oid::kTimestampTz,
                                pg2bq::pg_oid::kInterval,
                                pg2bq::pg_oid::kJson,
                                pg2bq::pg_oid::kJsonb,
                                pg2bq::pg_oid::kInet,
                                pg2bq::pg_oid::kCidr,
                                pg2bq::pg_oid::kMacaddr,
                                pg2bq::pg_oid::kMoney,
                                1000,
                                1005,
                                1007,
                                1016,
                                1021,
                                1022,
                                1231,
                                1009,
                                1001,
                                2951,
                                1182,
                                1183,
                                1270,
                                1115,
                                1185,
                                1187,
                                3807,
                                1041,
                                1040,
                                791,
                                16385,
                                16384,
                                600};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  static pg2bq::PgTypeRegistry* registry = [] {
    auto* r = new pg2bq::PgTypeRegistry();
    (void)r->Register({16385, 'e', 'E', 0, 0, "mood"});
    (void)r->Register({16384, 'b', 'A', 0, 16385, "_mood"});
    return r;
  }();
  const pg2bq::PgType type = registry->Resolve(kOids[data[0] % std::size(kOids)]);
  const pg2bq::ColumnState format =
      (data[1] & 1) ? pg2bq::ColumnState::kBinary : pg2bq::ColumnState::kText;
  std::string bytes(reinterpret_cast<const char*>(data + 2), size - 2);
  pg2bq::PgValue v;
  if (!pg2bq::DecodePgValueInto(type, {format, bytes}, &v).ok()) return 0;
  std::string out;
  (void)pg2bq::AppendPgText(v, &out);
  if (v.kind == pg2bq::PgTypeKind::kBytea) (void)pg2bq::AppendPgByteaBytes(v, &out);
  if (v.kind == pg2bq::PgTypeKind::kArray) {
    pg2bq::PgArrayReader r(v.array);
    pg2bq::PgValue e;
    for (int n = 0; n < 1000000; ++n) {
      auto more = r.Next(&e);
      if (!more.ok() || !*more) break;
      out.clear();
      (void)pg2bq::AppendPgText(e, &out);
    }
  }
  return 0;
}
