// Log sequence numbers: PostgreSQL's WAL positions, printed as "X/Y" (two hex
// halves), exactly as the server prints pg_lsn.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pg2bq {

using Lsn = std::uint64_t;
inline constexpr Lsn kInvalidLsn = 0;

// "16/B374D848" -> 0x16B374D848. Returns nullopt on anything else.
std::optional<Lsn> ParseLsn(std::string_view text);
std::string FormatLsn(Lsn lsn);

}  // namespace pg2bq
