// JSON string literals for everything pg2bq writes as JSON text (`pg2bq stream` lines, JSON
// log lines, JSON values built from PostgreSQL text such as hstore or arrays).
#pragma once

#include <string>
#include <string_view>

namespace pg2bq {

// Appends `s` as a quoted JSON string: `"` and `\` escaped, control characters as \n, \t
// ... or \u00XX, well-formed UTF-8 copied as is, and every byte that is not part of a
// well-formed UTF-8 sequence (overlong forms and surrogates included) replaced by U+FFFD,
// so the output is always valid JSON and valid UTF-8.
void AppendJsonString(std::string_view s, std::string* out);

}  // namespace pg2bq
