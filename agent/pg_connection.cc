#include "agent/pg_connection.h"

#include <libpq-fe.h>
#include <poll.h>

#include <cerrno>
#include <cstring>

namespace pg2bq::agent {
namespace {

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

std::string Trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
    s.remove_suffix(1);
  return std::string(s);
}

int RemainingMs(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  deadline - std::chrono::steady_clock::now())
                  .count();
  if (left < 0) return 0;
  if (left > 1000000) return 1000000;
  return static_cast<int>(left);
}

}  // namespace

void PgResultDeleter::operator()(PGresult* r) const {
  PQclear(r);
}

Status ClassifyConnectError(std::string_view msg_in, const std::string& where,
                            const std::string& user, ConnectionKind kind) {
  const std::string msg = Trim(msg_in);
  const std::string at = " (PostgreSQL at " + where + ")";
  if (Contains(msg, "password authentication failed") ||
      Contains(msg, "SCRAM authentication failed") ||
      Contains(msg, "Ident authentication failed") || Contains(msg, "authentication failed")) {
    return Status::PermissionDenied("authentication failed for user \"" + user + "\"" + at +
                                    ": wrong password or user name. Server said: " + msg);
  }
  if (Contains(msg, "no password supplied") || Contains(msg, "password is required")) {
    return Status::PermissionDenied(
        "the server wants a password for user \"" + user + "\"" + at +
        " but none was given: add password=... to the DSN, or use PGPASSWORD or ~/.pgpass");
  }
  if (Contains(msg, "superuser or replication role") ||
      Contains(msg, "permission denied to start WAL sender") ||
      Contains(msg, "must have the REPLICATION attribute")) {
    return Status::PermissionDenied("role \"" + user + "\" may not open a replication connection" +
                                    at + ": it needs the REPLICATION attribute (ALTER ROLE \"" +
                                    user +
                                    "\" WITH REPLICATION) or superuser. Server said: " + msg);
  }
  if (Contains(msg, "no pg_hba.conf entry")) {
    return Status::PermissionDenied(
        std::string("pg_hba.conf rejects this ") +
        (kind == ConnectionKind::kReplication ? "replication " : "") + "connection" + at +
        (kind == ConnectionKind::kReplication
             ? ": logical replication connections match lines whose database is the "
               "database name (not the 'replication' keyword). Server said: "
             : ". Server said: ") +
        msg);
  }
  if (Contains(msg, "database \"") && Contains(msg, "does not exist")) {
    return Status::NotFound(msg + at);
  }
  if (Contains(msg, "role \"") && Contains(msg, "does not exist")) {
    return Status::PermissionDenied(msg + at);
  }
  if (Contains(msg, "starting up") || Contains(msg, "shutting down") ||
      Contains(msg, "in recovery mode") || Contains(msg, "too many clients") ||
      Contains(msg, "not yet accepting connections")) {
    return Status::Unavailable("PostgreSQL at " + where + " is not accepting connections: " + msg);
  }
  if (Contains(msg, "invalid connection option") || Contains(msg, "missing \"=\"") ||
      Contains(msg, "invalid URI") || Contains(msg, "invalid integer value")) {
    return Status::InvalidArgument("bad connection string: " + msg);
  }
  // Refused, unreachable, DNS, timeout, reset: the network or the server is down.
  return Status::Unavailable("cannot reach PostgreSQL at " + where + ": " + msg);
}

Status ClassifyServerError(std::string_view sqlstate, std::string_view message_in,
                           std::string_view detail, std::string_view hint,
                           const std::string& where) {
  std::string message(message_in);
  if (!detail.empty()) message += " (" + Trim(detail) + ")";
  if (!hint.empty()) message += " Hint: " + Trim(hint);
  message += " [SQLSTATE " + std::string(sqlstate) + ", PostgreSQL at " + where + "]";
  const std::string_view cls = sqlstate.substr(0, 2);
  if (Contains(message_in, "requires wal_level") || Contains(message_in, "wal_level")) {
    return Status::FailedPrecondition(
        "logical decoding is not enabled on this server: " + message +
        ". Set wal_level = logical (ALTER SYSTEM SET wal_level = logical) and restart it");
  }
  if (sqlstate == "42704") {  // undefined_object: slot or publication does not exist
    return Status::NotFound(message);
  }
  if (sqlstate == "55006") {  // object_in_use: slot active for another PID
    return Status::FailedPrecondition("replication slot in use by another process: " + message);
  }
  if (sqlstate == "42710") return Status::FailedPrecondition(message);  // duplicate_object
  if (cls == "42" && sqlstate == "42501") return Status::PermissionDenied(message);
  if (cls == "28") return Status::PermissionDenied(message);
  if (cls == "08" || cls == "57" || cls == "53") {  // connection, shutdown, resources
    return Status::Unavailable(message);
  }
  if (cls == "55") return Status::FailedPrecondition(message);
  if (cls == "22" || cls == "42") return Status::InvalidArgument(message);
  return Status::Internal(message);
}

Status StatusFromResult(const PGresult* result, PGconn* conn, const std::string& where) {
  if (result == nullptr) {
    return Status::Unavailable("lost the connection to PostgreSQL at " + where + ": " +
                               Trim(PQerrorMessage(conn)));
  }
  const char* sqlstate = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
  if (sqlstate == nullptr || primary == nullptr) {
    // Generated by libpq itself: the connection broke.
    return Status::Unavailable("lost the connection to PostgreSQL at " + where + ": " +
                               Trim(PQresultErrorMessage(result)));
  }
  const char* detail = PQresultErrorField(result, PG_DIAG_MESSAGE_DETAIL);
  const char* hint = PQresultErrorField(result, PG_DIAG_MESSAGE_HINT);
  return ClassifyServerError(sqlstate, primary, detail ? detail : "", hint ? hint : "", where);
}

PgConnection::PgConnection(PGconn* conn) : conn_(conn) {
  const char* host = PQhost(conn);
  const char* port = PQport(conn);
  where_ = std::string(host ? host : "?") + ":" + (port ? port : "?");
  const char* user = PQuser(conn);
  user_ = user ? user : "";
  const char* db = PQdb(conn);
  dbname_ = db ? db : "";
}

PgConnection::~PgConnection() {
  if (conn_) PQfinish(conn_);
}

int PgConnection::socket() const {
  return PQsocket(conn_);
}

Result<std::unique_ptr<PgConnection>> PgConnection::Connect(const std::string& dsn,
                                                            ConnectionKind kind,
                                                            std::chrono::milliseconds timeout,
                                                            const Cancellation* cancel) {
  char* parse_error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(dsn.c_str(), &parse_error);
  if (parsed == nullptr) {
    std::string msg = parse_error ? Trim(parse_error) : "out of memory";
    PQfreemem(parse_error);
    return Status::InvalidArgument("bad connection string (--dsn): " + msg);
  }
  std::vector<std::string> keys, values;
  std::string user_options;
  bool has_app_name = false;
  for (PQconninfoOption* o = parsed; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    std::string_view k = o->keyword;
    if (k == "replication") continue;
    if (k == "options") {
      user_options = o->val;
      continue;
    }
    if (k == "application_name") has_app_name = true;
    keys.emplace_back(k);
    values.emplace_back(o->val);
  }
  PQconninfoFree(parsed);
  keys.emplace_back("options");
  values.push_back(user_options.empty() ? kSessionOptions : user_options + " " + kSessionOptions);
  if (!has_app_name) {
    keys.emplace_back("application_name");
    values.emplace_back("pg2bq");
  }
  if (kind == ConnectionKind::kReplication) {
    keys.emplace_back("replication");
    values.emplace_back("database");
  }
  std::vector<const char*> kw, vals;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    kw.push_back(keys[i].c_str());
    vals.push_back(values[i].c_str());
  }
  kw.push_back(nullptr);
  vals.push_back(nullptr);

  PGconn* raw = PQconnectStartParams(kw.data(), vals.data(), 0);
  if (raw == nullptr) return Status::Internal("libpq: out of memory");
  std::unique_ptr<PgConnection> conn(new PgConnection(raw));
  if (PQstatus(raw) == CONNECTION_BAD) {
    return ClassifyConnectError(PQerrorMessage(raw), conn->where_, conn->user_, kind);
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  PostgresPollingStatusType poll_status = PGRES_POLLING_WRITING;
  while (true) {
    if (poll_status == PGRES_POLLING_OK) break;
    if (poll_status == PGRES_POLLING_FAILED) {
      conn->where_ =
          std::string(PQhost(raw) ? PQhost(raw) : "?") + ":" + (PQport(raw) ? PQport(raw) : "?");
      return ClassifyConnectError(PQerrorMessage(raw), conn->where_, conn->user_, kind);
    }
    Status waited = conn->WaitSocket(poll_status == PGRES_POLLING_WRITING, deadline, cancel);
    if (!waited.ok()) {
      if (waited.code() == Status::Code::kAborted) return waited;
      return Status::Unavailable("cannot reach PostgreSQL at " + conn->where_ +
                                 ": no answer within " + std::to_string(timeout.count()) + " ms");
    }
    poll_status = PQconnectPoll(raw);
  }
  if (PQsetnonblocking(raw, 1) != 0) {
    return Status::Internal("libpq: cannot make the connection non-blocking");
  }
  conn->where_ =
      std::string(PQhost(raw) ? PQhost(raw) : "?") + ":" + (PQport(raw) ? PQport(raw) : "?");
  return conn;
}

Status PgConnection::WaitSocket(bool for_write, std::chrono::steady_clock::time_point deadline,
                                const Cancellation* cancel) const {
  pollfd fds[2] = {};
  fds[0].fd = PQsocket(conn_);
  fds[0].events = for_write ? POLLOUT : POLLIN;
  int nfds = 1;
  if (cancel != nullptr) {
    fds[1].fd = cancel->fd();
    fds[1].events = POLLIN;
    nfds = 2;
  }
  if (fds[0].fd < 0) return Status::Unavailable("no socket for PostgreSQL at " + where_);
  while (true) {
    if (cancel != nullptr && cancel->cancelled()) return Status::Aborted("cancelled");
    int rc = poll(fds, nfds, RemainingMs(deadline));
    if (rc < 0) {
      if (errno == EINTR) continue;
      return Status::IoError(std::string("poll: ") + std::strerror(errno));
    }
    if (cancel != nullptr && cancel->cancelled()) return Status::Aborted("cancelled");
    if (rc == 0) return Status::Unavailable("timed out waiting for PostgreSQL at " + where_);
    if (fds[0].revents != 0) return Status::Ok();
  }
}

Result<PgResultPtr> PgConnection::Exec(std::string_view sql, std::chrono::milliseconds timeout,
                                       const Cancellation* cancel) {
  const std::string query(sql);
  if (PQsendQuery(conn_, query.c_str()) == 0) {
    return Status::Unavailable("cannot send a query to PostgreSQL at " + where_ + ": " +
                               Trim(PQerrorMessage(conn_)));
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // Non-blocking mode: the query may not be fully sent yet.
  while (true) {
    int flushed = PQflush(conn_);
    if (flushed == 0) break;
    if (flushed < 0) {
      return Status::Unavailable("cannot send a query to PostgreSQL at " + where_ + ": " +
                                 Trim(PQerrorMessage(conn_)));
    }
    PG2BQ_RETURN_IF_ERROR(WaitSocket(true, deadline, cancel));
  }
  PgResultPtr last;
  Status error;
  while (true) {
    while (PQisBusy(conn_)) {
      Status waited = WaitSocket(false, deadline, cancel);
      if (!waited.ok()) {
        // Ask the server to stop the statement; the connection is not reused after this.
        if (PGcancel* c = PQgetCancel(conn_)) {
          char buf[256];
          PQcancel(c, buf, sizeof(buf));
          PQfreeCancel(c);
        }
        return waited.code() == Status::Code::kAborted
                   ? waited
                   : Status::Unavailable("PostgreSQL at " + where_ + " did not answer `" +
                                         query.substr(0, 80) + "` within " +
                                         std::to_string(timeout.count()) + " ms");
      }
      if (PQconsumeInput(conn_) == 0) {
        return Status::Unavailable("lost the connection to PostgreSQL at " + where_ + ": " +
                                   Trim(PQerrorMessage(conn_)));
      }
    }
    PGresult* r = PQgetResult(conn_);
    if (r == nullptr) break;
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COPY_BOTH) return PgResultPtr(r);
    if (st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE || st == PGRES_NONFATAL_ERROR) {
      if (error.ok()) error = StatusFromResult(r, conn_, where_);
      PQclear(r);
      continue;
    }
    if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT) {
      PQclear(r);
      return Status::Internal("unexpected COPY from `" + query.substr(0, 80) + "`");
    }
    last.reset(r);
  }
  if (!error.ok()) return error;
  if (!last) return Status::Internal("no result for `" + query.substr(0, 80) + "`");
  return last;
}

std::string PgConnection::QuoteIdentifier(std::string_view name) const {
  char* q = PQescapeIdentifier(conn_, name.data(), name.size());
  std::string out = q ? q : "\"\"";
  PQfreemem(q);
  return out;
}

std::string PgConnection::QuoteLiteral(std::string_view value) const {
  char* q = PQescapeLiteral(conn_, value.data(), value.size());
  std::string out = q ? q : "''";
  PQfreemem(q);
  return out;
}

}  // namespace pg2bq::agent
