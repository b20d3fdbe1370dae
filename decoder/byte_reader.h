// Bounds-checked big-endian reader over a pgoutput payload.
//
// pgoutput frames every field in network byte order with no padding. Each read
// checks the remaining length first, so a truncated or lying message turns
// into a failed read (and then a Status naming the offset), never an
// out-of-bounds access.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace pg2bq {

class ByteReader {
 public:
  explicit ByteReader(std::string_view data) : data_(data) {}

  std::size_t offset() const { return pos_; }
  std::size_t remaining() const { return data_.size() - pos_; }
  bool AtEnd() const { return pos_ == data_.size(); }

  bool ReadU8(std::uint8_t* v) {
    if (remaining() < 1) return false;
    *v = static_cast<std::uint8_t>(data_[pos_++]);
    return true;
  }
  bool ReadU16(std::uint16_t* v) {
    if (remaining() < 2) return false;
    *v = static_cast<std::uint16_t>((Byte(0) << 8) | Byte(1));
    pos_ += 2;
    return true;
  }
  bool ReadU32(std::uint32_t* v) {
    if (remaining() < 4) return false;
    *v = (std::uint32_t{Byte(0)} << 24) | (std::uint32_t{Byte(1)} << 16) |
         (std::uint32_t{Byte(2)} << 8) | std::uint32_t{Byte(3)};
    pos_ += 4;
    return true;
  }
  bool ReadU64(std::uint64_t* v) {
    std::uint32_t hi = 0, lo = 0;
    if (remaining() < 8) return false;
    ReadU32(&hi);
    ReadU32(&lo);
    *v = (std::uint64_t{hi} << 32) | lo;
    return true;
  }
  bool ReadI16(std::int16_t* v) {
    std::uint16_t u = 0;
    if (!ReadU16(&u)) return false;
    *v = static_cast<std::int16_t>(u);
    return true;
  }
  bool ReadI32(std::int32_t* v) {
    std::uint32_t u = 0;
    if (!ReadU32(&u)) return false;
    *v = static_cast<std::int32_t>(u);
    return true;
  }
  bool ReadI64(std::int64_t* v) {
    std::uint64_t u = 0;
    if (!ReadU64(&u)) return false;
    *v = static_cast<std::int64_t>(u);
    return true;
  }
  // A view of the next n bytes.
  bool ReadBytes(std::size_t n, std::string_view* v) {
    if (remaining() < n) return false;
    *v = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  // A NUL-terminated string (the NUL is consumed, not included).
  bool ReadCString(std::string_view* v) {
    const void* nul = std::memchr(data_.data() + pos_, '\0', remaining());
    if (nul == nullptr) return false;
    std::size_t len = static_cast<const char*>(nul) - (data_.data() + pos_);
    *v = data_.substr(pos_, len);
    pos_ += len + 1;
    return true;
  }

 private:
  unsigned Byte(std::size_t i) const { return static_cast<unsigned char>(data_[pos_ + i]); }

  std::string_view data_;
  std::size_t pos_ = 0;
};

}  // namespace pg2bq
