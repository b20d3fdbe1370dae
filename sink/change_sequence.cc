#include "sink/change_sequence.h"

#include <array>
#include <cstring>

namespace pg2bq::sink {
namespace {

// Two digits per table lookup: this runs for every row a copy or the stream encodes.
constexpr std::array<char, 512> kHexPairs = [] {
  constexpr char kDigits[] = "0123456789ABCDEF";
  std::array<char, 512> t{};
  for (int b = 0; b < 256; ++b) {
    t[2 * b] = kDigits[b >> 4];
    t[2 * b + 1] = kDigits[b & 0xF];
  }
  return t;
}();

void PutHex16(char* out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    std::memcpy(out + 2 * i, &kHexPairs[2 * (v & 0xFF)], 2);
    v >>= 8;
  }
}

std::optional<std::uint64_t> ParseHexSection(std::string_view s) {
  if (s.empty() || s.size() > 16) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return std::nullopt;
    }
    v = (v << 4) | static_cast<std::uint64_t>(d);
  }
  return v;
}

}  // namespace

void PutChangeSequence(char* out, Lsn commit_lsn, std::uint64_t ordinal) {
  PutHex16(out, commit_lsn);
  out[16] = '/';
  PutHex16(out + 17, ordinal);
}

void AppendChangeSequence(std::string* out, Lsn commit_lsn, std::uint64_t ordinal) {
  char buf[kChangeSequenceLength];
  PutChangeSequence(buf, commit_lsn, ordinal);
  out->append(buf, sizeof buf);
}

std::string FormatChangeSequence(Lsn commit_lsn, std::uint64_t ordinal) {
  std::string out;
  out.reserve(kChangeSequenceLength);
  AppendChangeSequence(&out, commit_lsn, ordinal);
  return out;
}

std::optional<ChangeSequence> ParseChangeSequence(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto a = ParseHexSection(text.substr(0, slash));
  auto b = ParseHexSection(text.substr(slash + 1));
  if (!a || !b) return std::nullopt;
  return ChangeSequence{*a, *b};
}

}  // namespace pg2bq::sink
