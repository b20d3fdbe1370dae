// Reader of PostgreSQL's array text form: "{1,2,NULL}", "{{1,2},{3,4}}", "{\"a b\",c}",
// "[0:1]={1,2}". Produces a flat token list (open, close, element) without a tree.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pg2bq::sink::pgtext {

struct ArrayToken {
  enum class Kind : std::uint8_t { kOpen, kClose, kElement };
  Kind kind = Kind::kElement;
  bool is_null = false;
  // Element text: [offset, offset+size) in ParsedArray::scratch (de-escaped).
  std::uint32_t offset = 0, size = 0;
};

struct ParsedArray {
  std::vector<ArrayToken> tokens;
  std::string scratch;
  int ndim = 0;  // deepest nesting seen; 0 for "{}"
  bool has_nulls = false;
  std::size_t element_count = 0;

  std::string_view Text(const ArrayToken& t) const { return {scratch.data() + t.offset, t.size}; }
  void Clear() {
    tokens.clear();
    scratch.clear();
    ndim = 0;
    has_nulls = false;
    element_count = 0;
  }
};

// False on malformed input.
bool ParseArrayText(std::string_view s, ParsedArray* out);

}  // namespace pg2bq::sink::pgtext
