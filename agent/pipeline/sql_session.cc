#include "agent/pipeline/sql_session.h"

#include <libpq-fe.h>

namespace pg2bq::agent::pipeline {

std::string QuoteIdent(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

Result<std::unique_ptr<SqlSession>> SqlSession::Connect(const std::string& conninfo,
                                                        int timeout_ms) {
  const std::string timeout_s = std::to_string(std::max(1, timeout_ms / 1000));
  const char* keys[] = {"dbname", "connect_timeout", "application_name", nullptr};
  const char* vals[] = {conninfo.c_str(), timeout_s.c_str(), "pg2bq", nullptr};
  PGconn* conn = PQconnectdbParams(keys, vals, /*expand_dbname=*/1);
  if (conn == nullptr) return Status::Unavailable("PostgreSQL: out of memory connecting");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(conn);
    PQfinish(conn);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' '))
      msg.pop_back();
    return Status::Unavailable("PostgreSQL connection failed: " + msg);
  }
  auto session = std::unique_ptr<SqlSession>(new SqlSession(conn));
  auto r = session->Query("SELECT set_config('statement_timeout', $1, false)",
                          {std::to_string(timeout_ms)});
  if (!r.ok()) return r.status();
  return session;
}

SqlSession::~SqlSession() {
  if (conn_) PQfinish(conn_);
}

bool SqlSession::healthy() const {
  return PQstatus(conn_) == CONNECTION_OK;
}

namespace {

Status ResultError(PGresult* res, PGconn* conn, std::string_view sql) {
  std::string msg = res ? PQresultErrorMessage(res) : PQerrorMessage(conn);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' '))
    msg.pop_back();
  return Status::Unavailable("PostgreSQL query failed (" + std::string(sql.substr(0, 80)) +
                             "): " + msg);
}

SqlRow RowOf(PGresult* res, int r) {
  SqlRow row;
  const int n = PQnfields(res);
  row.reserve(n);
  for (int c = 0; c < n; ++c) {
    if (PQgetisnull(res, r, c)) {
      row.emplace_back(std::nullopt);
    } else {
      row.emplace_back(std::string(PQgetvalue(res, r, c), PQgetlength(res, r, c)));
    }
  }
  return row;
}

}  // namespace

Result<std::vector<SqlRow>> SqlSession::Query(
    std::string_view sql, const std::vector<std::optional<std::string>>& params) {
  std::vector<const char*> values;
  for (const auto& p : params)
    values.push_back(p ? p->c_str() : nullptr);
  const std::string q(sql);
  PGresult* res = PQexecParams(conn_, q.c_str(), static_cast<int>(values.size()), nullptr,
                               values.data(), nullptr, nullptr, 0);
  if (res == nullptr ||
      (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK)) {
    Status s = ResultError(res, conn_, sql);
    if (res) PQclear(res);
    return s;
  }
  std::vector<SqlRow> rows;
  for (int r = 0; r < PQntuples(res); ++r)
    rows.push_back(RowOf(res, r));
  PQclear(res);
  return rows;
}

Status SqlSession::ForEachRow(std::string_view sql,
                              const std::function<Status(const SqlRow&)>& fn) {
  const std::string q(sql);
  if (!PQsendQuery(conn_, q.c_str()) || !PQsetSingleRowMode(conn_))
    return ResultError(nullptr, conn_, sql);
  Status status = Status::Ok();
  while (PGresult* res = PQgetResult(conn_)) {
    const auto st = PQresultStatus(res);
    if (st == PGRES_SINGLE_TUPLE) {
      if (status.ok()) status = fn(RowOf(res, 0));
    } else if (st != PGRES_TUPLES_OK && status.ok()) {
      status = ResultError(res, conn_, sql);
    }
    PQclear(res);
  }
  return status;
}

}  // namespace pg2bq::agent::pipeline
