// A place in the spool: segment sequence number and byte offset inside it.
#pragma once

#include <compare>
#include <cstdint>
#include <string>

namespace pg2bq::spool {

struct Position {
  std::uint64_t segment = 0;  // 0 = before the first segment
  std::uint64_t offset = 0;

  auto operator<=>(const Position&) const = default;
  std::string ToString() const;  // "segment 0000000000000003 offset 4096"
};

}  // namespace pg2bq::spool
