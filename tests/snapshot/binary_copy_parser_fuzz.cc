// libFuzzer target: BinaryCopyParser on arbitrary bytes, fed in pieces whose sizes come
// from the input's first byte, must never read out of bounds or loop; every tuple's field
// views must lie inside what was fed.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "agent/snapshot/binary_copy_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t piece = 1 + data[0] % 64;
  const std::size_t expected = data[0] >> 6;  // 0..3
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  pg2bq::agent::snapshot::BinaryCopyParser parser(expected);
  std::vector<pg2bq::agent::snapshot::CopyField> fields;
  std::size_t fed = 0;
  std::size_t total = 0;
  while (true) {
    auto step = parser.Next(&fields);
    if (!step.ok()) return 0;
    if (*step == pg2bq::agent::snapshot::BinaryCopyParser::Step::kTuple) {
      for (const auto& f : fields)
        total += f.bytes.size();
      if (total > input.size() * 2 + 1) __builtin_trap();
      continue;
    }
    if (*step == pg2bq::agent::snapshot::BinaryCopyParser::Step::kEnd) break;
    if (fed == input.size()) break;
    const std::size_t n = std::min(piece, input.size() - fed);
    parser.Feed(input.substr(fed, n));
    fed += n;
  }
  (void)parser.Finish();
  return 0;
}
