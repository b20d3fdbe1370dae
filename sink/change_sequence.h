// _CHANGE_SEQUENCE_NUMBER / change-log ordering key: "COMMITLSN/ORDINAL", two sections of
// 16 upper-case, zero-padded hex digits. BigQuery compares sections as unsigned numbers; the
// fixed width also makes plain string order equal commit order (for the change-log column).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/lsn.h"

namespace pg2bq::sink {

inline constexpr std::size_t kChangeSequenceLength = 33;

std::string FormatChangeSequence(Lsn commit_lsn, std::uint64_t ordinal);
// Writes the 33 characters at out[0..32].
void PutChangeSequence(char* out, Lsn commit_lsn, std::uint64_t ordinal);
// Appends the 33 characters to *out (no allocation when *out has room).
void AppendChangeSequence(std::string* out, Lsn commit_lsn, std::uint64_t ordinal);

struct ChangeSequence {
  Lsn commit_lsn = 0;
  std::uint64_t ordinal = 0;
  auto operator<=>(const ChangeSequence&) const = default;
};
// Parses BigQuery's general form (1-4 sections of 1-16 hex digits); only two-section values
// (ours) give a ChangeSequence.
std::optional<ChangeSequence> ParseChangeSequence(std::string_view text);

}  // namespace pg2bq::sink
