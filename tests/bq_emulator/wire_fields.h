// Protobuf wire bytes written by hand, so the emulator's tests and benchmark send rows
// exactly as a client would without generating a message type for each table.
#pragma once

#include <cstdint>
#include <string>

namespace pg2bq::bqemu::testing {

inline std::string Varint(std::uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
  return out;
}

// Field `number` as a varint (INT64, BOOL, ...).
inline std::string IntField(int number, std::int64_t v) {
  return Varint(static_cast<std::uint64_t>(number) << 3) + Varint(static_cast<std::uint64_t>(v));
}

// Field `number` as length-delimited bytes (STRING, BYTES, nested messages).
inline std::string StrField(int number, const std::string& s) {
  return Varint((static_cast<std::uint64_t>(number) << 3) | 2) + Varint(s.size()) + s;
}

}  // namespace pg2bq::bqemu::testing
