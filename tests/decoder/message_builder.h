// Builds pgoutput payloads byte by byte for hand-written test cases.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace pg2bq::testing {

class MessageBuilder {
 public:
  explicit MessageBuilder(char type) { s_.push_back(type); }
  MessageBuilder& U8(std::uint8_t v) {
    s_.push_back(static_cast<char>(v));
    return *this;
  }
  MessageBuilder& U16(std::uint16_t v) { return U8(v >> 8).U8(v & 0xff); }
  MessageBuilder& U32(std::uint32_t v) { return U16(v >> 16).U16(v & 0xffff); }
  MessageBuilder& U64(std::uint64_t v) { return U32(v >> 32).U32(v & 0xffffffffu); }
  MessageBuilder& Str(std::string_view v) {
    s_.append(v);
    s_.push_back('\0');
    return *this;
  }
  MessageBuilder& Raw(std::string_view v) {
    s_.append(v);
    return *this;
  }
  // TupleData helpers.
  MessageBuilder& Cols(std::uint16_t n) { return U16(n); }
  MessageBuilder& Null() { return U8('n'); }
  MessageBuilder& Toast() { return U8('u'); }
  MessageBuilder& Text(std::string_view v) {
    return U8('t').U32(static_cast<std::uint32_t>(v.size())).Raw(v);
  }
  MessageBuilder& Bin(std::string_view v) {
    return U8('b').U32(static_cast<std::uint32_t>(v.size())).Raw(v);
  }
  const std::string& str() const { return s_; }
  operator std::string_view() const { return s_; }  // NOLINT

 private:
  std::string s_;
};

}  // namespace pg2bq::testing
