// PgTestCluster: a throw-away PostgreSQL 15 cluster for integration tests.
//
// Start() runs initdb into a fresh temp dir as the `postgres` OS user (PostgreSQL
// refuses to run as root), configures it for logical replication
// (wal_level=logical, logical_decoding_work_mem=64kB so streamed transactions are
// cheap to produce), listens on 127.0.0.1 on a free port with its unix socket in the
// temp dir, and starts it with pg_ctl. The superuser `postgres` has the password
// kPassword; TCP connections (including replication ones) need it (scram-sha-256),
// so wrong-password tests work. The unix socket trusts everyone.
//
// Teardown: the destructor stops the server (`pg_ctl stop -m immediate`) and removes
// the temp dir. So that a crashed or killed test process (SIGKILL, ctest timeout)
// leaves nothing behind either, Start() also spawns a small reaper process in its own
// session that holds the read end of a pipe; when this process dies for any reason
// the pipe closes and the reaper stops the server and removes the dir.
//
// Binaries come from /usr/lib/postgresql/15/bin, or $PG2BQ_PG_BINDIR if set.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

typedef struct pg_conn PGconn;

namespace pg2bq::testing {

// One row of a query result; NULL is nullopt.
using PgRow = std::vector<std::optional<std::string>>;

// A plain (non-replication) libpq session, for tests that need several statements in
// one session (open transactions, interleaving).
class PgSession {
 public:
  static Result<PgSession> Connect(const std::string& dsn);
  PgSession(PgSession&&) noexcept;
  PgSession& operator=(PgSession&&) noexcept;
  ~PgSession();

  // Runs one or more statements; fails with the server's message.
  Status Exec(std::string_view sql);
  // Runs a single statement and returns its rows.
  Result<std::vector<PgRow>> Query(std::string_view sql);
  // First column of the first row ("" for NULL); fails if there is no row.
  Result<std::string> QueryValue(std::string_view sql);
  // The backend's PID (pg_backend_pid()).
  int BackendPid() const;
  PGconn* raw() { return conn_; }

 private:
  explicit PgSession(PGconn* conn) : conn_(conn) {}
  PGconn* conn_ = nullptr;
};

struct PgTestClusterOptions {
  // Extra postgresql.conf settings, applied after the defaults (so they override them),
  // e.g. {"wal_level", "replica"}.
  std::vector<std::pair<std::string, std::string>> settings;
};

class PgTestCluster {
 public:
  static constexpr const char* kSuperuser = "postgres";
  static constexpr const char* kPassword = "pg2bq-test-password";

  // initdb + start; the cluster is up and accepting connections on success.
  static Result<std::unique_ptr<PgTestCluster>> Start(PgTestClusterOptions options = {});
  ~PgTestCluster();
  PgTestCluster(const PgTestCluster&) = delete;
  PgTestCluster& operator=(const PgTestCluster&) = delete;

  const std::string& host() const { return host_; }
  int port() const { return port_; }
  const std::string& dir() const { return dir_; }  // temp dir (socket lives here)
  std::string data_dir() const { return dir_ + "/data"; }
  std::string log_file() const { return dir_ + "/server.log"; }

  // libpq connection string over TCP as the superuser, e.g. for `dbname=postgres`.
  // `extra` is appended verbatim ("replication=database", "user=x password=y" ...;
  // later keywords override earlier ones).
  std::string Dsn(std::string_view dbname = "postgres", std::string_view extra = "") const;

  // Convenience: a fresh session per call, as the superuser.
  Status Exec(std::string_view sql, std::string_view dbname = "postgres") const;
  Result<std::vector<PgRow>> Query(std::string_view sql,
                                   std::string_view dbname = "postgres") const;
  Result<std::string> QueryValue(std::string_view sql, std::string_view dbname = "postgres") const;
  Result<PgSession> Connect(std::string_view dbname = "postgres") const;

  // Server lifecycle, for reconnect tests. Stop() uses the given pg_ctl mode
  // ("fast" or "immediate"); Restart() = Stop + StartServer on the same port.
  Status Stop(std::string_view mode = "fast");
  Status StartServer();
  Status Restart(std::string_view mode = "fast");
  bool running() const { return running_; }

  // The last `max_bytes` of the server log, for failure messages.
  std::string LogTail(std::size_t max_bytes = 4000) const;

 private:
  PgTestCluster() = default;
  Status Init(const PgTestClusterOptions& options);
  Status RunPgTool(const std::vector<std::string>& args) const;
  void SpawnReaper();

  std::string bindir_;
  std::string host_ = "127.0.0.1";
  std::string dir_;
  int port_ = 0;
  bool running_ = false;
  int reaper_pipe_ = -1;  // write end; closing it (or dying) triggers the reaper
  pid_t reaper_pid_ = -1;
};

}  // namespace pg2bq::testing
