// SqlSession: a plain libpq session for the pipeline's catalog lookups, unchanged-TOAST
// resolution and `pg2bq verify`. Parameters are sent out of line (PQexecParams), so values
// never need quoting; every statement runs under a statement_timeout.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

typedef struct pg_conn PGconn;

namespace pg2bq::agent::pipeline {

using SqlRow = std::vector<std::optional<std::string>>;

class SqlSession {
 public:
  // `timeout_ms` applies to the connection attempt and (as statement_timeout) to each query.
  static Result<std::unique_ptr<SqlSession>> Connect(const std::string& conninfo, int timeout_ms);
  ~SqlSession();
  SqlSession(const SqlSession&) = delete;
  SqlSession& operator=(const SqlSession&) = delete;

  // Runs one statement with text parameters (nullopt = NULL) and returns its rows as text.
  Result<std::vector<SqlRow>> Query(std::string_view sql,
                                    const std::vector<std::optional<std::string>>& params = {});
  // Streams the rows of a query in chunks of `chunk` (single-row mode), for large tables.
  Status ForEachRow(std::string_view sql, const std::function<Status(const SqlRow&)>& fn);

  bool healthy() const;

 private:
  explicit SqlSession(PGconn* conn) : conn_(conn) {}
  PGconn* conn_;
};

std::string QuoteIdent(std::string_view name);

}  // namespace pg2bq::agent::pipeline
