#include "agent/pipeline/verify.h"

#include <charconv>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "agent/pipeline/sql_session.h"
#include "agent/pipeline/table_data.h"
#include "sink/column_names.h"

namespace pg2bq::agent::pipeline {

namespace {

using nlohmann::json;

struct PgColumn {
  std::string name;
  std::string type;  // format_type
  bool key = false;
};

bool Comparable(const std::string& t) {
  static const std::set<std::string> kTypes = {"smallint", "integer", "bigint",          "text",
                                               "uuid",     "boolean", "numeric",         "oid",
                                               "date",     "real",    "double precision"};
  if (kTypes.count(t)) return true;
  const bool time_without_zone =
      t.rfind("time", 0) == 0 && t.find("without time zone") != std::string::npos;
  return t.rfind("character varying", 0) == 0 || t.rfind("numeric(", 0) == 0 ||
         t.rfind("timestamp", 0) == 0 || time_without_zone;
}

// Shortest text that reads back as the same value ("1" and "1.0" agree; NaN, inf).
template <typename Float>
std::string FloatNorm(const std::string& s) {
  Float f = 0;
  if (s == "NaN") return "nan";
  if (s == "Infinity") return "inf";
  if (s == "-Infinity") return "-inf";
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), f);
  if (ec != std::errc() || end != s.data() + s.size()) return s;
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, f);
  return std::string(buf, r.ptr);
}

// Normalised value: NULL = "\x00N"; numerics without trailing zeros; bool as true/false.
std::string Norm(const std::optional<std::string>& v, const std::string& type) {
  if (!v) return std::string("\0N", 2);
  std::string s = *v;
  if (type == "boolean") return s == "t" || s == "true" ? "true" : "false";
  if (type == "double precision") return FloatNorm<double>(s);
  if (type == "real") return FloatNorm<float>(s);
  if (type.rfind("numeric", 0) == 0 && s.find('.') != std::string::npos) {
    while (!s.empty() && s.back() == '0')
      s.pop_back();
    if (!s.empty() && s.back() == '.') s.pop_back();
    if (s == "-0") s = "0";
  }
  return s;
}

std::optional<std::string> JsonText(const json& v) {
  if (v.is_null()) return std::nullopt;
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

std::string KeyString(const std::vector<std::string>& parts) {
  std::string k;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i) k += ", ";
    k += parts[i];
  }
  return "(" + k + ")";
}

}  // namespace

Result<VerifySummary> VerifyTables(const AgentConfig& config,
                                   const sink::TableManagerOptions& target,
                                   const VerifyOptions& options, std::FILE* out) {
  PG2BQ_ASSIGN_OR_RETURN(auto sql, SqlSession::Connect(config.source.ConnInfo(), 300000));
  // Source values are read as text: in the forms PgTextOfTableData gives the target's.
  PG2BQ_RETURN_IF_ERROR(sql->Query("SELECT set_config('TimeZone', 'UTC', false), "
                                   "set_config('DateStyle', 'ISO, YMD', false)")
                            .status());
  PG2BQ_ASSIGN_OR_RETURN(auto tables,
                         sql->Query("SELECT schemaname, tablename FROM pg_publication_tables "
                                    "WHERE pubname = $1 ORDER BY 1, 2",
                                    {config.replication.publication}));
  VerifySummary summary;
  for (const auto& t : tables) {
    const std::string schema = *t[0], name = *t[1];
    if (!config.tables.Selected(schema, name)) continue;
    ++summary.tables;
    const std::string qualified = schema + "." + name;
    PG2BQ_ASSIGN_OR_RETURN(
        auto cols,
        sql->Query("SELECT a.attname, format_type(a.atttypid, a.atttypmod), "
                   "  coalesce(a.attnum = ANY(i.indkey), false) "
                   "FROM pg_attribute a LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND "
                   "  (i.indisreplident OR (i.indisprimary AND NOT EXISTS (SELECT 1 FROM pg_index "
                   "   j WHERE j.indrelid = a.attrelid AND j.indisreplident))) "
                   "WHERE a.attrelid = ($1 || '.' || $2)::regclass AND a.attnum > 0 AND NOT "
                   "a.attisdropped ORDER BY a.attnum",
                   {QuoteIdent(schema), QuoteIdent(name)}));
    // PostgreSQL 15 publications may publish some columns and rows only: compare those.
    PG2BQ_ASSIGN_OR_RETURN(
        auto published,
        sql->Query("SELECT rowfilter, a FROM pg_publication_tables, unnest(attnames) a "
                   "WHERE pubname = $1 AND schemaname = $2 AND tablename = $3",
                   {config.replication.publication, schema, name}));
    std::set<std::string> published_columns;
    for (const auto& p : published)
      published_columns.insert(*p[1]);
    const std::optional<std::string> row_filter =
        published.empty() ? std::nullopt : published[0][0];
    std::vector<PgColumn> columns;
    bool has_key = false;
    for (const auto& c : cols) {
      if (!published_columns.empty() && published_columns.count(*c[0]) == 0) continue;
      columns.push_back({*c[0], *c[1], *c[2] == "t"});
      has_key |= columns.back().key;
    }
    const std::string table_id = sink::TargetTableId(config.target.table_name, schema, name);
    if (!has_key || config.target.mode == TableMode::kChangeLog) {
      std::fprintf(out, "%s: skipped (no key: replicated as a change log)\n", qualified.c_str());
      ++summary.tables_skipped;
      continue;
    }
    // Source rows keyed by their key's text.
    std::string select = "SELECT ";
    for (std::size_t i = 0; i < columns.size(); ++i)
      select += (i ? ", " : "") + QuoteIdent(columns[i].name) + "::text";
    select += " FROM " + QuoteIdent(schema) + "." + QuoteIdent(name);
    if (row_filter) select += " WHERE " + *row_filter;
    std::map<std::string, std::vector<std::string>> source;
    std::vector<std::string> not_compared;
    for (const auto& c : columns)
      if (!Comparable(c.type)) not_compared.push_back(c.name);
    PG2BQ_RETURN_IF_ERROR(sql->ForEachRow(select, [&](const SqlRow& row) {
      std::vector<std::string> key, vals;
      for (std::size_t i = 0; i < columns.size(); ++i) {
        if (columns[i].key) key.push_back(Norm(row[i], columns[i].type));
        vals.push_back(Comparable(columns[i].type) ? Norm(row[i], columns[i].type) : "");
      }
      source[KeyString(key)] = std::move(vals);
      return Status::Ok();
    }));
    // Target rows.
    TableData schema_out;
    std::map<std::string, std::vector<std::string>> target_rows;
    std::vector<int> pos(columns.size(), -1);
    Status listed = ListTableRows(target, table_id, &schema_out, [&](const auto& row) {
      if (pos[0] == -1) {
        for (std::size_t i = 0; i < columns.size(); ++i)
          for (std::size_t j = 0; j < schema_out.columns.size(); ++j)
            if (schema_out.columns[j] == columns[i].name) pos[i] = static_cast<int>(j);
      }
      std::vector<std::string> key, vals;
      for (std::size_t i = 0; i < columns.size(); ++i) {
        auto v = pos[i] >= 0 ? JsonText(row[static_cast<std::size_t>(pos[i])])
                             : std::optional<std::string>();
        if (v) {  // TIMESTAMP/DATETIME/TIME as PostgreSQL prints them (session in UTC)
          auto text = PgTextOfTableData(*v, schema_out.types[static_cast<std::size_t>(pos[i])]);
          if (!text.ok())
            return text.status().WithContext(qualified + " column " + columns[i].name);
          v = std::move(*text);
        }
        if (columns[i].key) key.push_back(Norm(v, columns[i].type));
        vals.push_back(Comparable(columns[i].type) ? Norm(v, columns[i].type) : "");
      }
      target_rows[KeyString(key)] = std::move(vals);
      return Status::Ok();
    });
    if (!listed.ok() && listed.code() != Status::Code::kNotFound) return listed;
    std::vector<std::string> missing, extra, different;
    std::size_t matching = 0;
    for (const auto& [k, v] : source) {
      auto it = target_rows.find(k);
      if (it == target_rows.end()) {
        missing.push_back(k);
      } else if (it->second != v) {
        different.push_back(k);
      } else {
        ++matching;
      }
    }
    for (const auto& [k, v] : target_rows)
      if (!source.count(k)) extra.push_back(k);
    const bool equal = missing.empty() && extra.empty() && different.empty();
    if (equal) ++summary.tables_equal;
    std::fprintf(out,
                 "%s -> %s.%s: %s (source %zu rows, target %zu rows; matching %zu, missing %zu, "
                 "extra %zu, different %zu)\n",
                 qualified.c_str(), target.dataset.c_str(), table_id.c_str(),
                 equal ? "EQUAL" : "DIFFERENT", source.size(), target_rows.size(), matching,
                 missing.size(), extra.size(), different.size());
    auto list = [&](const char* what, const std::vector<std::string>& keys) {
      for (std::size_t i = 0; i < keys.size() && i < options.max_listed; ++i)
        std::fprintf(out, "  %s %s\n", what, keys[i].c_str());
      if (keys.size() > options.max_listed)
        std::fprintf(out, "  ... %zu more %s\n", keys.size() - options.max_listed, what);
    };
    list("missing", missing);
    list("extra", extra);
    list("different", different);
    if (!not_compared.empty()) {
      std::string names;
      for (const auto& n : not_compared)
        names += (names.empty() ? "" : ", ") + n;
      std::fprintf(out, "  values not compared (type): %s\n", names.c_str());
    }
  }
  return summary;
}

}  // namespace pg2bq::agent::pipeline
