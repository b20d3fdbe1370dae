// PostgreSQL identifiers -> BigQuery column names (rules in docs/TYPE_MAPPING.md, "Column
// names"): deterministic, so the same table always gets the same names.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace pg2bq::sink {

inline constexpr std::size_t kMaxColumnNameLength = 300;

// Maps each name; `reserved_extra` are names the caller adds afterwards (change-log columns)
// and that source columns therefore must not take.
std::vector<std::string> SanitizeColumnNames(const std::vector<std::string>& pg_names,
                                             const std::vector<std::string>& reserved_extra = {});

// Table ids follow the same character rules (max 1024); used for "schema_table" ids.
std::string SanitizeTableId(std::string_view name);

}  // namespace pg2bq::sink
