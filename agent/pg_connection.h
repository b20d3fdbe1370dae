// PgConnection: a libpq connection whose every blocking step (connect, query) runs
// non-blocking under poll() with a deadline and a Cancellation, and whose failures
// become Status values that name the problem (wrong password, missing REPLICATION
// attribute, unreachable host, missing slot, ...) and the server they came from.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/cancellation.h"
#include "common/status.h"

typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;

namespace pg2bq::agent {

struct PgResultDeleter {
  void operator()(PGresult* r) const;
};
using PgResultPtr = std::unique_ptr<PGresult, PgResultDeleter>;

enum class ConnectionKind {
  kNormal,       // a regular SQL session
  kReplication,  // replication=database: walsender commands and simple SQL
};

// Session settings every pg2bq connection asks for, so that text-format values
// (and error messages) have one documented form: see docs/REPLICATION.md.
inline constexpr const char* kSessionOptions =
    "-c datestyle=ISO,MDY -c timezone=UTC -c intervalstyle=postgres -c extra_float_digits=1 "
    "-c bytea_output=hex -c lc_monetary=C";

class PgConnection {
 public:
  // Connects with the libpq conninfo `dsn` (key=value or URI). pg2bq's session
  // settings are appended to any `options` in the DSN; `application_name` defaults to
  // "pg2bq". Fails with a classified Status (see ClassifyConnectError).
  static Result<std::unique_ptr<PgConnection>> Connect(const std::string& dsn, ConnectionKind kind,
                                                       std::chrono::milliseconds timeout,
                                                       const Cancellation* cancel);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Sends `sql` (simple query protocol) and waits for its results. Returns the last
  // result; stops early at a COPY BOTH result (START_REPLICATION). A server error
  // becomes a Status classified by SQLSTATE (ClassifyServerError).
  Result<PgResultPtr> Exec(std::string_view sql, std::chrono::milliseconds timeout,
                           const Cancellation* cancel);

  // Waits until the socket is readable (or writable), the deadline passes or `cancel`
  // fires. Returns Ok when ready, Aborted when cancelled, Unavailable on timeout.
  Status WaitSocket(bool for_write, std::chrono::steady_clock::time_point deadline,
                    const Cancellation* cancel) const;

  std::string QuoteIdentifier(std::string_view name) const;
  std::string QuoteLiteral(std::string_view value) const;

  PGconn* raw() const { return conn_; }
  int socket() const;
  // "host:port" of the server, for messages.
  const std::string& where() const { return where_; }
  const std::string& user() const { return user_; }
  const std::string& dbname() const { return dbname_; }

 private:
  explicit PgConnection(PGconn* conn);
  PGconn* conn_;
  std::string where_;
  std::string user_;
  std::string dbname_;
};

// Maps a failed connection attempt (libpq's error text) to a Status.
Status ClassifyConnectError(std::string_view libpq_message, const std::string& where,
                            const std::string& user, ConnectionKind kind);
// Maps a server ERROR (SQLSTATE + primary message) to a Status.
Status ClassifyServerError(std::string_view sqlstate, std::string_view message,
                           std::string_view detail, std::string_view hint,
                           const std::string& where);
// Maps a failed result (or a null one: connection trouble) to a Status.
Status StatusFromResult(const PGresult* result, PGconn* conn, const std::string& where);

}  // namespace pg2bq::agent
