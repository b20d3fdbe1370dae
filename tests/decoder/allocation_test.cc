// Verifies the hot-path claim: once warmed up, decoding a change and every
// column value (and formatting it into a reused buffer) allocates nothing.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "decoder/pg_text_format.h"
#include "decoder/pgoutput_decoder.h"
#include "tests/decoder/message_builder.h"

namespace {
std::atomic<long> g_allocations{0};
}  // namespace

void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace pg2bq::testing {
namespace {

class DecodeEverything : public ChangeHandler {
 public:
  explicit DecodeEverything(PgoutputDecoder** d) : d_(d) { out_.reserve(4096); }
  Status OnChange(const Change& c) override {
    for (std::size_t i = 0; i < c.new_tuple->columns.size(); ++i) {
      PgType t = (*d_)->types().Resolve(c.relation->columns[i].type_oid);
      PG2BQ_RETURN_IF_ERROR(DecodePgValueInto(t, c.new_tuple->columns[i], &v_));
      out_.clear();
      PG2BQ_RETURN_IF_ERROR(AppendPgText(v_, &out_));
    }
    return Status::Ok();
  }

 private:
  PgoutputDecoder** d_;
  PgValue v_;
  std::string out_;
};

TEST(AllocationTest, NoAllocationPerChangeOnceWarm) {
  for (bool binary : {false, true}) {
    PgoutputDecoder* dp = nullptr;
    DecodeEverything h(&dp);
    PgoutputDecoder d(&h);
    dp = &d;
    MessageBuilder rel('R');
    rel.U32(1).Str("public").Str("t").U8('d').U16(6);
    for (auto [name, oid] : {std::pair<const char*, Oid>{"a", 20},
                             {"b", 25},
                             {"c", 1184},
                             {"d", 1700},
                             {"e", 2950},
                             {"f", 1007}}) {
      rel.U8(0).Str(name).U32(oid).U32(0xffffffff);
    }
    MessageBuilder ins('I');
    ins.U32(1).U8('N').Cols(6);
    if (binary) {
      ins.Bin(std::string("\0\0\0\0\0\0\0\7", 8))
          .Bin("some text")
          .Bin(std::string("\0\2\xb5\x3f\x8c\x4e\x20\0", 8))
          .Bin(std::string("\0\2\0\0\0\0\0\2\0\x0c\x0d\x7a", 12))
          .Bin(std::string(16, '\x11'))
          .Bin(std::string(
              "\0\0\0\1\0\0\0\1\0\0\0\x17\0\0\0\2\0\0\0\1\0\0\0\4\0\0\0\1\xff\xff\xff\xff", 32));
    } else {
      ins.Text("7")
          .Text("some text")
          .Text("2024-02-29 13:14:15.5+00")
          .Text("12.345")
          .Text("11111111-1111-1111-1111-111111111111")
          .Text("{1,NULL}");
    }
    ASSERT_TRUE(d.Decode(1, rel).ok());
    ASSERT_TRUE(d.Decode(2, MessageBuilder('B').U64(9).U64(0).U32(5)).ok());
    for (int i = 0; i < 10; ++i) {
      Status s = d.Decode(3, ins);
      ASSERT_TRUE(s.ok()) << s.ToString();
    }
    const long before = g_allocations.load();
    ASSERT_GT(before, 0) << "the counting operator new is not in effect";
    for (int i = 0; i < 1000; ++i)
      ASSERT_TRUE(d.Decode(3, ins).ok());
    EXPECT_EQ(g_allocations.load() - before, 0) << (binary ? "binary" : "text");
  }
}

}  // namespace
}  // namespace pg2bq::testing
