// Test helpers: source columns as the decoder's relation message would describe them.
#pragma once

#include <cstdint>
#include <string>

#include "sink/source_relation.h"

namespace pg2bq::sink::testing {

inline SourceColumn Col(std::string name, std::uint32_t type, std::int32_t typmod = -1,
                        bool key = false) {
  SourceColumn c;
  c.name = std::move(name);
  c.type_oid = type;
  c.typmod = typmod;
  c.is_key = key;
  return c;
}

// numeric(p, s)'s atttypmod.
inline std::int32_t NumericTypmod(int p, int s) {
  return ((p << 16) | (s & 0x7ff)) + 4;
}

}  // namespace pg2bq::sink::testing
