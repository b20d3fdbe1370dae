#include "sink/column_names.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <set>

namespace pg2bq::sink {
namespace {

constexpr std::array<std::string_view, 7> kReservedPrefixes = {
    "_TABLE_", "_FILE_", "_PARTITION", "_ROW_TIMESTAMP", "__ROOT__", "_COLIDENTIFIER", "_CHANGE_"};

std::string Upper(std::string_view s) {
  std::string u(s);
  for (char& c : u)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return u;
}

std::string BaseName(std::string_view pg, std::size_t max_len) {
  std::string out;
  out.reserve(pg.size() + 4);
  for (char c : pg) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back((std::isalnum(u) && u < 0x80) || c == '_' ? c : '_');
  }
  if (out.empty() || std::isdigit(static_cast<unsigned char>(out[0]))) out.insert(0, "_");
  const std::string upper = Upper(out);
  for (auto prefix : kReservedPrefixes) {
    if (upper.starts_with(prefix)) {
      out.insert(0, "pg");
      break;
    }
  }
  if (out.size() > max_len) out.resize(max_len);
  return out;
}

}  // namespace

std::vector<std::string> SanitizeColumnNames(const std::vector<std::string>& pg_names,
                                             const std::vector<std::string>& reserved_extra) {
  std::set<std::string> taken;
  for (const auto& r : reserved_extra)
    taken.insert(Upper(r));
  std::vector<std::string> out;
  out.reserve(pg_names.size());
  for (const auto& pg : pg_names) {
    std::string name = BaseName(pg, kMaxColumnNameLength);
    if (taken.count(Upper(name))) {
      for (int n = 2;; ++n) {
        const std::string suffix = "_" + std::to_string(n);
        std::string candidate = name.substr(0, kMaxColumnNameLength - suffix.size()) + suffix;
        if (!taken.count(Upper(candidate))) {
          name = std::move(candidate);
          break;
        }
      }
    }
    taken.insert(Upper(name));
    out.push_back(std::move(name));
  }
  return out;
}

std::string SanitizeTableId(std::string_view name) {
  return BaseName(name, 1024);
}

std::string TargetTableId(std::string_view tmpl, std::string_view schema, std::string_view table) {
  if (tmpl.empty()) tmpl = kDefaultTableNameTemplate;
  std::string out;
  for (std::size_t i = 0; i < tmpl.size(); ++i) {
    if (tmpl.substr(i, 9) == "{schema_}") {
      if (!schema.empty() && schema != "public") out.append(schema).append("_");
      i += 8;
    } else if (tmpl.substr(i, 8) == "{schema}") {
      out += schema;
      i += 7;
    } else if (tmpl.substr(i, 7) == "{table}") {
      out += table;
      i += 6;
    } else {
      out += tmpl[i];
    }
  }
  return SanitizeTableId(out);
}

}  // namespace pg2bq::sink
