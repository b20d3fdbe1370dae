// libFuzzer target: arbitrary bytes as a sequence of pgoutput payloads.
// Input layout: repeated [u16 length][payload]; each payload goes through
// PgoutputDecoder and every delivered column through DecodePgValueInto and
// AppendPgText, with every built-in type OID tried in text and binary form.
#include <cstddef>
#include <cstdint>
#include <string>

#include "decoder/pg_text_format.h"
#include "decoder/pgoutput_decoder.h"

namespace {

class FuzzHandler : public pg2bq::ChangeHandler {
 public:
  explicit FuzzHandler(pg2bq::PgoutputDecoder** d) : d_(d) {}
  pg2bq::Status OnChange(const pg2bq::Change& c) override {
    for (const pg2bq::TupleData* t : {c.new_tuple, c.old_tuple}) {
      if (t == nullptr || c.relation == nullptr) continue;
      for (std::size_t i = 0; i < t->columns.size() && i < c.relation->columns.size(); ++i) {
        const pg2bq::ColumnValue& col = t->columns[i];
        if (col.state != pg2bq::ColumnState::kText && col.state != pg2bq::ColumnState::kBinary) {
          continue;
        }
        pg2bq::PgType type = (*d_)->types().Resolve(c.relation->columns[i].type_oid);
        if (pg2bq::DecodePgValueInto(type, col, &value_).ok()) {
          out_.clear();
          (void)pg2bq::AppendPgText(value_, &out_);
          if (value_.kind == pg2bq::PgTypeKind::kArray) {
            pg2bq::PgArrayReader r(value_.array);
            pg2bq::PgValue e;
            for (int n = 0; n < 100000; ++n) {
              auto more = r.Next(&e);
              if (!more.ok() || !*more) break;
            }
          }
        }
      }
    }
    return pg2bq::Status::Ok();
  }

 private:
  pg2bq::PgoutputDecoder** d_;
  pg2bq::PgValue value_;
  std::string out_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pg2bq::PgoutputDecoder* dp = nullptr;
  FuzzHandler h(&dp);
  pg2bq::PgoutputDecoder decoder(&h);
  dp = &decoder;
  // Make user-type paths reachable: a domain, an enum and an enum array.
  (void)decoder.types().Register({16392, 'd', 'N', 23, 0, "posint"});
  (void)decoder.types().Register({16385, 'e', 'E', 0, 0, "mood"});
  (void)decoder.types().Register({16384, 'b', 'A', 0, 16385, "_mood"});
  std::size_t pos = 0;
  while (pos + 2 <= size) {
    std::size_t len = (std::size_t{data[pos]} << 8) | data[pos + 1];
    pos += 2;
    if (len > size - pos) len = size - pos;
    // Copy so ASan catches any read past the payload.
    std::string payload(reinterpret_cast<const char*>(data + pos), len);
    pos += len;
    (void)decoder.Decode(pos, payload);
  }
  return 0;
}
