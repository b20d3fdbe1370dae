// Protocol-buffer wire format, written by hand: the row encoder appends each
// field straight into the request buffer instead of building a message object
// per row (see docs/SINK.md, "Row encoding").
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace pg2bq::sink::wire {

enum WireType : std::uint32_t {
  kVarint = 0,
  kFixed64 = 1,
  kLengthDelimited = 2,
  kFixed32 = 5,
};

inline void PutVarint(std::string* out, std::uint64_t v) {
  char buf[10];
  int n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  out->append(buf, static_cast<std::size_t>(n));
}

inline std::size_t VarintSize(std::uint64_t v) {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

inline void PutTag(std::string* out, std::uint32_t field, WireType type) {
  PutVarint(out, (static_cast<std::uint64_t>(field) << 3) | type);
}

// int64 / int32 / bool / enum: negative values take ten bytes (not zigzag), as protobuf's int64.
inline void PutInt64Field(std::string* out, std::uint32_t field, std::int64_t v) {
  PutTag(out, field, kVarint);
  PutVarint(out, static_cast<std::uint64_t>(v));
}

inline void PutBoolField(std::string* out, std::uint32_t field, bool v) {
  PutTag(out, field, kVarint);
  out->push_back(v ? 1 : 0);
}

inline void PutFixed64(std::string* out, std::uint64_t v) {
  char buf[8];
  for (int i = 0; i < 8; ++i)
    buf[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
  out->append(buf, 8);
}

inline void PutDoubleField(std::string* out, std::uint32_t field, double v) {
  PutTag(out, field, kFixed64);
  std::uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  PutFixed64(out, bits);
}

inline void PutBytesField(std::string* out, std::uint32_t field, std::string_view v) {
  PutTag(out, field, kLengthDelimited);
  PutVarint(out, v.size());
  out->append(v.data(), v.size());
}

// Length-delimited field whose length is known only after its body is written: reserve
// the tag, write the body, then call Finish() to insert the length varint.
class LengthPrefixScope {
 public:
  LengthPrefixScope(std::string* out, std::uint32_t field) : out_(out) {
    PutTag(out, field, kLengthDelimited);
    start_ = out->size();
  }
  void Finish() {
    std::size_t body = out_->size() - start_;
    std::string len;
    PutVarint(&len, body);
    out_->insert(start_, len);
  }

 private:
  std::string* out_;
  std::size_t start_;
};

}  // namespace pg2bq::sink::wire
