#include "sink/pg_array_text.h"

namespace pg2bq::sink::pgtext {
namespace {

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

}  // namespace

bool ParseArrayText(std::string_view s, ParsedArray* out) {
  out->Clear();
  std::size_t pos = 0;
  // Optional dimension decoration: "[lb:ub][lb:ub]=".
  if (!s.empty() && s[0] == '[') {
    const auto eq = s.find('=');
    if (eq == std::string_view::npos) return false;
    pos = eq + 1;
  }
  int depth = 0;
  bool expect_element = true;  // after '{' or ','
  while (pos < s.size()) {
    const char c = s[pos];
    if (IsSpace(c)) {
      ++pos;
      continue;
    }
    if (c == '{') {
      if (!expect_element) return false;
      ++depth;
      if (depth > out->ndim) out->ndim = depth;
      out->tokens.push_back({ArrayToken::Kind::kOpen, false, 0, 0});
      ++pos;
      continue;
    }
    if (c == '}') {
      if (depth == 0) return false;
      // "{}" is fine; "{1,}" is not.
      if (expect_element && out->tokens.back().kind != ArrayToken::Kind::kOpen) return false;
      --depth;
      out->tokens.push_back({ArrayToken::Kind::kClose, false, 0, 0});
      expect_element = false;
      ++pos;
      if (depth == 0) break;
      continue;
    }
    if (c == ',') {
      if (expect_element || depth == 0) return false;
      expect_element = true;
      ++pos;
      continue;
    }
    if (!expect_element || depth == 0) return false;
    // An element, quoted or not.
    ArrayToken t;
    t.offset = static_cast<std::uint32_t>(out->scratch.size());
    if (c == '"') {
      ++pos;
      bool closed = false;
      while (pos < s.size()) {
        if (s[pos] == '\\' && pos + 1 < s.size()) {
          out->scratch.push_back(s[pos + 1]);
          pos += 2;
        } else if (s[pos] == '"') {
          ++pos;
          closed = true;
          break;
        } else {
          out->scratch.push_back(s[pos++]);
        }
      }
      if (!closed) return false;
    } else {
      const std::size_t start = pos;
      bool escaped = false;
      while (pos < s.size() && s[pos] != ',' && s[pos] != '}' && s[pos] != '{' && s[pos] != '"') {
        if (s[pos] == '\\' && pos + 1 < s.size()) {
          escaped = true;
          out->scratch.push_back(s[pos + 1]);
          pos += 2;
        } else {
          out->scratch.push_back(s[pos++]);
        }
      }
      // Trailing whitespace of an unquoted element is not part of it.
      while (out->scratch.size() > t.offset && IsSpace(out->scratch.back()) && !escaped)
        out->scratch.pop_back();
      std::string_view raw = s.substr(start, pos - start);
      while (!raw.empty() && IsSpace(raw.back()))
        raw.remove_suffix(1);
      if (!escaped && raw.size() == 4 && (raw[0] == 'N' || raw[0] == 'n') &&
          (raw == "NULL" || raw == "null" || raw == "Null")) {
        out->scratch.resize(t.offset);
        t.is_null = true;
        out->has_nulls = true;
      }
    }
    t.size = static_cast<std::uint32_t>(out->scratch.size() - t.offset);
    out->tokens.push_back(t);
    ++out->element_count;
    expect_element = false;
  }
  if (depth != 0 || out->tokens.empty()) return false;
  while (pos < s.size() && IsSpace(s[pos]))
    ++pos;
  return pos == s.size();
}

}  // namespace pg2bq::sink::pgtext
