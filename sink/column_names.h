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

// The default `target.table_name`: `orders` for public.orders, `sales_orders` for
// sales.orders.
inline constexpr std::string_view kDefaultTableNameTemplate = "{schema_}{table}";

// A BigQuery table id from a `target.table_name` template: `{schema}` is the schema,
// `{schema_}` the schema and an underscore (nothing for `public`), `{table}` the table;
// the result is sanitized like column names (SanitizeTableId). Templates are validated by
// the agent's config loader; an unknown placeholder is copied literally.
std::string TargetTableId(std::string_view tmpl, std::string_view schema, std::string_view table);

}  // namespace pg2bq::sink
