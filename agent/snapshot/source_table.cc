#include "agent/snapshot/source_table.h"

#include <libpq-fe.h>

#include <algorithm>
#include <string>
#include <vector>

namespace pg2bq::agent::snapshot {

Result<SourceTable> LoadSourceTable(PgConnection* conn, const std::string& schema,
                                    const std::string& table, std::chrono::milliseconds timeout,
                                    const Cancellation* cancel, const std::string& publication) {
  const std::string name = schema + "." + table;
  // to_regclass: a table dropped or renamed meanwhile gives no rows (NotFound) instead of an
  // error that would abort the transaction the other tables' catalog is read in.
  const std::string rel =
      "to_regclass(" +
      conn->QuoteLiteral(conn->QuoteIdentifier(schema) + "." + conn->QuoteIdentifier(table)) + ")";
  // One row per column; typname/typtype/base type are what pgoutput's Type message and the
  // catalog lookups in capture give for non-built-in types.
  const std::string sql =
      "SELECT c.oid, pg_relation_size(c.oid) / current_setting('block_size')::int, c.reltuples, "
      "c.relreplident, a.attname, a.atttypid, "
      "       a.atttypmod, t.typname, t.typtype, "
      "       CASE WHEN t.typtype = 'd' THEN (WITH RECURSIVE d(oid, base, typtype, depth) AS ("
      "          SELECT t.oid, t.typbasetype, t.typtype, 0 UNION ALL "
      "          SELECT b.oid, b.typbasetype, b.typtype, d.depth + 1 FROM pg_type b "
      "          JOIN d ON b.oid = d.base WHERE d.typtype = 'd' AND depth < 10) "
      "          SELECT oid FROM d ORDER BY depth DESC LIMIT 1) ELSE 0 END, "
      "       COALESCE((SELECT bool_or(a.attnum = ANY(i.indkey)) FROM pg_index i "
      "                 WHERE i.indrelid = c.oid AND "
      "                 CASE c.relreplident WHEN 'd' THEN i.indisprimary "
      "                                     WHEN 'i' THEN i.indisreplident ELSE false END), "
      "                false) OR c.relreplident = 'f' "
      ", c.relfilenode "
      "FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid "
      "JOIN pg_type t ON t.oid = a.atttypid "
      "WHERE c.oid = " +
      rel +
      " AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' "
      "ORDER BY a.attnum";
  auto res = conn->Exec(sql, timeout, cancel);
  if (!res.ok()) return res.status().WithContext("reading the columns of " + name);
  PGresult* r = res->get();
  const int rows = PQntuples(r);
  if (rows == 0) return Status::NotFound("table " + name + " has no columns to copy");
  SourceTable out;
  out.relation.oid = static_cast<std::uint32_t>(std::stoul(PQgetvalue(r, 0, 0)));
  out.relation.schema = schema;
  out.relation.name = table;
  out.relpages = std::stoull(PQgetvalue(r, 0, 1));
  out.reltuples = std::stod(PQgetvalue(r, 0, 2));
  out.relfilenode = static_cast<std::uint32_t>(std::stoul(PQgetvalue(r, 0, 11)));
  for (int i = 0; i < rows; ++i) {
    sink::SourceColumn c;
    c.name = PQgetvalue(r, i, 4);
    c.type_oid = static_cast<std::uint32_t>(std::stoul(PQgetvalue(r, i, 5)));
    c.typmod = std::stoi(PQgetvalue(r, i, 6));
    const char typtype = PQgetvalue(r, i, 8)[0];
    if (c.type_oid >= 10000) {  // as capture describes non-built-in types
      c.type_name = PQgetvalue(r, i, 7);
      c.is_enum = typtype == 'e';
      if (typtype == 'd')
        c.base_type_oid = static_cast<std::uint32_t>(std::stoul(PQgetvalue(r, i, 9)));
    }
    c.is_key = PQgetvalue(r, i, 10)[0] == 't';
    out.relation.columns.push_back(std::move(c));
  }
  if (publication.empty()) return out;
  // PostgreSQL 15: pg_publication_tables lists the published columns (all of them without a
  // column list) and the row filter.
  auto pub = conn->Exec(
      "SELECT rowfilter, a FROM pg_publication_tables, unnest(attnames) a WHERE pubname = " +
          conn->QuoteLiteral(publication) + " AND schemaname = " + conn->QuoteLiteral(schema) +
          " AND tablename = " + conn->QuoteLiteral(table),
      timeout, cancel);
  if (!pub.ok()) return pub.status().WithContext("reading publication " + publication);
  PGresult* pr = pub->get();
  if (PQntuples(pr) == 0) return out;  // not published (any more): the caller decides
  if (!PQgetisnull(pr, 0, 0)) out.row_filter = PQgetvalue(pr, 0, 0);
  std::vector<std::string> published;
  for (int i = 0; i < PQntuples(pr); ++i)
    published.emplace_back(PQgetvalue(pr, i, 1));
  auto& cols = out.relation.columns;
  cols.erase(std::remove_if(cols.begin(), cols.end(),
                            [&](const sink::SourceColumn& c) {
                              return std::find(published.begin(), published.end(), c.name) ==
                                     published.end();
                            }),
             cols.end());
  return out;
}

std::vector<CopyChunk> PlanChunks(std::uint64_t relpages, std::uint32_t chunks) {
  chunks = std::max<std::uint32_t>(1, chunks);
  std::vector<CopyChunk> out;
  if (relpages == 0 || chunks == 1) {
    out.push_back({0, 0});
    return out;
  }
  const std::uint64_t n = std::min<std::uint64_t>(chunks, relpages);
  const std::uint64_t step = (relpages + n - 1) / n;
  for (std::uint64_t first = 0; first < relpages; first += step)
    out.push_back({first, first + step});
  out.back().end_page = 0;
  return out;
}

}  // namespace pg2bq::agent::snapshot
