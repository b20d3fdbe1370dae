#include "tests/bq_emulator/change_sequence.h"

#include <array>
#include <cstdint>
#include <string>

namespace pg2bq::bqemu {
namespace {

// Digit value of each byte, -1 for a byte that is not a hex digit (every row is scanned).
constexpr std::array<int8_t, 256> kHexValue = [] {
  std::array<int8_t, 256> t{};
  t.fill(-1);
  for (int c = '0'; c <= '9'; ++c)
    t[c] = static_cast<int8_t>(c - '0');
  for (int c = 'a'; c <= 'f'; ++c)
    t[c] = static_cast<int8_t>(c - 'a' + 10);
  for (int c = 'A'; c <= 'F'; ++c)
    t[c] = static_cast<int8_t>(c - 'A' + 10);
  return t;
}();

}  // namespace

Result<ChangeSequence> ChangeSequence::Parse(std::string_view text) {
  ChangeSequence seq;
  PG2BQ_RETURN_IF_ERROR(Scan(text, &seq.sections_));
  return seq;
}

Status ChangeSequence::Validate(std::string_view text) {
  return Scan(text, nullptr);
}

Status ChangeSequence::Scan(std::string_view text, std::vector<uint64_t>* sections) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("Invalid _CHANGE_SEQUENCE_NUMBER '" + std::string(text) +
                                   "': " + why);
  };
  size_t count = 0;
  size_t start = 0;
  while (true) {
    size_t slash = text.find('/', start);
    std::string_view part = text.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (part.empty()) return bad("empty section");
    if (part.size() > 16) return bad("a section has more than 16 hexadecimal digits");
    uint64_t v = 0;
    for (char c : part) {
      const int8_t d = kHexValue[static_cast<unsigned char>(c)];
      if (d < 0) return bad("not hexadecimal");
      v = (v << 4) | static_cast<uint64_t>(d);
    }
    if (sections) sections->push_back(v);
    if (++count > 4) return bad("more than 4 sections");
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return Status::Ok();
}

int ChangeSequence::Compare(const ChangeSequence& other) const {
  size_t n = std::max(sections_.size(), other.sections_.size());
  for (size_t i = 0; i < n; ++i) {
    uint64_t a = i < sections_.size() ? sections_[i] : 0;
    uint64_t b = i < other.sections_.size() ? other.sections_[i] : 0;
    if (a != b) return a < b ? -1 : 1;
  }
  return 0;
}

}  // namespace pg2bq::bqemu
