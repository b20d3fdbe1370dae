#include "sink/change_sequence.h"

namespace pg2bq::sink {
namespace {

void AppendHex16(std::string* out, std::uint64_t v) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  char buf[16];
  for (int i = 15; i >= 0; --i) {
    buf[i] = kDigits[v & 0xF];
    v >>= 4;
  }
  out->append(buf, 16);
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

void AppendChangeSequence(std::string* out, Lsn commit_lsn, std::uint64_t ordinal) {
  AppendHex16(out, commit_lsn);
  out->push_back('/');
  AppendHex16(out, ordinal);
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
