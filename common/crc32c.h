// CRC32C (Castagnoli, polynomial 0x1EDC6F41, reflected 0x82F63B78): the checksum of
// every spool record and segment header.
//
// Uses the SSE4.2 crc32 instruction when the CPU has it (detected once at run
// time), else a portable slice-by-8 table. Both give identical results.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pg2bq::crc32c {

// Returns the CRC32C of concat(A, data[0, n)) where init_crc is the CRC32C of A.
std::uint32_t Extend(std::uint32_t init_crc, const void* data, std::size_t n);

// CRC32C of data[0, n).
inline std::uint32_t Value(const void* data, std::size_t n) {
  return Extend(0, data, n);
}

// The portable implementation, exposed so tests can compare both paths.
std::uint32_t ExtendPortable(std::uint32_t init_crc, const void* data, std::size_t n);

// True when Extend() uses the hardware instruction on this machine.
bool HardwareAccelerated();

// Stored checksums are masked (as in LevelDB): computing the CRC of a string that
// itself contains embedded CRCs is weak, and an all-zero region would otherwise
// carry the valid CRC of zero bytes.
inline constexpr std::uint32_t kMaskDelta = 0xa282ead8u;

inline std::uint32_t Mask(std::uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + kMaskDelta;
}

inline std::uint32_t Unmask(std::uint32_t masked_crc) {
  std::uint32_t rot = masked_crc - kMaskDelta;
  return ((rot >> 17) | (rot << 15));
}

}  // namespace pg2bq::crc32c
