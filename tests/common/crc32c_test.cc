#include "common/crc32c.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace pg2bq::crc32c {
namespace {

// RFC 3720 (iSCSI) appendix B.4 test vectors.
struct Vector {
  std::vector<unsigned char> bytes;
  std::uint32_t crc;
};

std::vector<Vector> Rfc3720Vectors() {
  std::vector<Vector> v;
  v.push_back({std::vector<unsigned char>(32, 0x00), 0x8a9136aau});
  v.push_back({std::vector<unsigned char>(32, 0xff), 0x62a8ab43u});
  std::vector<unsigned char> up(32), down(32);
  for (int i = 0; i < 32; ++i) {
    up[i] = static_cast<unsigned char>(i);
    down[i] = static_cast<unsigned char>(31 - i);
  }
  v.push_back({up, 0x46dd794eu});
  v.push_back({down, 0x113fdb5cu});
  // An iSCSI SCSI Read (10) command PDU.
  v.push_back({{0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
                0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
                0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
               0xd9963a56u});
  return v;
}

TEST(Crc32cTest, Rfc3720VectorsBothImplementations) {
  for (const auto& v : Rfc3720Vectors()) {
    EXPECT_EQ(Value(v.bytes.data(), v.bytes.size()), v.crc);
    EXPECT_EQ(ExtendPortable(0, v.bytes.data(), v.bytes.size()), v.crc);
  }
}

TEST(Crc32cTest, CheckValue) {
  const char* s = "123456789";
  EXPECT_EQ(Value(s, 9), 0xe3069283u);
  EXPECT_EQ(ExtendPortable(0, s, 9), 0xe3069283u);
  EXPECT_EQ(Value(s, 0), 0u);
}

TEST(Crc32cTest, ExtendEqualsWholeValue) {
  std::string s = "hello world, this is a longer string that crosses several 8-byte words";
  for (size_t split = 0; split <= s.size(); ++split) {
    std::uint32_t a = Value(s.data(), split);
    EXPECT_EQ(Extend(a, s.data() + split, s.size() - split), Value(s.data(), s.size()));
  }
}

TEST(Crc32cTest, HardwareAndPortableAgreeOnRandomUnalignedInput) {
  std::mt19937_64 rng(42);
  std::vector<unsigned char> buf(4096 + 16);
  for (auto& b : buf)
    b = static_cast<unsigned char>(rng());
  for (int i = 0; i < 500; ++i) {
    size_t off = rng() % 16;
    size_t len = rng() % 4096;
    std::uint32_t init = static_cast<std::uint32_t>(rng());
    ASSERT_EQ(Extend(init, buf.data() + off, len), ExtendPortable(init, buf.data() + off, len))
        << "off=" << off << " len=" << len;
  }
}

TEST(Crc32cTest, DifferentInputsDiffer) {
  EXPECT_NE(Value("a", 1), Value("foo", 3));
}

TEST(Crc32cTest, MaskRoundTripsAndChangesValue) {
  std::uint32_t crc = Value("foo", 3);
  EXPECT_NE(crc, Mask(crc));
  EXPECT_NE(crc, Mask(Mask(crc)));
  EXPECT_EQ(crc, Unmask(Mask(crc)));
  EXPECT_EQ(crc, Unmask(Unmask(Mask(Mask(crc)))));
}

TEST(Crc32cTest, ReportsHardwareWhenCpuHasSse42) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  EXPECT_EQ(HardwareAccelerated(), static_cast<bool>(__builtin_cpu_supports("sse4.2")));
#else
  EXPECT_FALSE(HardwareAccelerated());
#endif
}

}  // namespace
}  // namespace pg2bq::crc32c
