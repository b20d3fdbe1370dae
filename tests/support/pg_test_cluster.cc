#include "tests/support/pg_test_cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

extern char** environ;

namespace pg2bq::testing {
namespace {

constexpr const char* kDefaultBindir = "/usr/lib/postgresql/15/bin";

// Settings every test cluster gets. fsync=off: the tests exercise pg2bq, not the
// server's own crash safety, and it keeps initdb/checkpoints fast on a shared box.
const std::pair<const char*, const char*> kDefaultSettings[] = {
    {"wal_level", "logical"},
    {"max_replication_slots", "32"},
    {"max_wal_senders", "32"},
    {"max_connections", "100"},
    {"logical_decoding_work_mem", "'64kB'"},
    {"listen_addresses", "'127.0.0.1'"},
    {"fsync", "off"},
    {"full_page_writes", "off"},
    {"shared_buffers", "'64MB'"},
    {"max_wal_size", "'1GB'"},
    {"timezone", "'UTC'"},
    {"datestyle", "'ISO, MDY'"},
    {"lc_messages", "'C'"},
    {"log_min_messages", "warning"},
    {"log_line_prefix", "'%m [%p] %q%u@%d '"},
};

std::string ErrnoText(std::string_view what) {
  return std::string(what) + ": " + std::strerror(errno);
}

bool RunningAsRoot() {
  return geteuid() == 0;
}

// Picks a port that is free right now. Another process may grab it before the server
// binds; Start() retries with a new port when the server cannot bind.
Result<int> FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::IoError(ErrnoText("socket"));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    Status s = Status::IoError(ErrnoText("bind 127.0.0.1:0"));
    close(fd);
    return s;
  }
  close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

std::string ReadFileTail(const std::string& path, std::size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::stringstream ss;
  ss << in.rdbuf();
  std::string all = ss.str();
  if (all.size() > max_bytes) all = "..." + all.substr(all.size() - max_bytes);
  return all;
}

// Spawns argv (as the postgres user when we are root) with stdout+stderr appended to
// `log`, and waits. posix_spawn is safe in multi-threaded test processes.
Status SpawnAndWait(const std::vector<std::string>& args, const std::string& log) {
  std::vector<std::string> full;
  if (RunningAsRoot()) full = {"/usr/sbin/runuser", "-u", "postgres", "--"};
  full.insert(full.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : full)
    argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    return Status::IoError("cannot run " + full[0] + ": " + std::strerror(rc));
  }
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0) {
    if (errno != EINTR) return Status::IoError(ErrnoText("waitpid"));
  }
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    std::string cmd;
    for (const auto& a : args)
      cmd += (cmd.empty() ? "" : " ") + a;
    return Status::Internal("`" + cmd + "` failed (status " + std::to_string(wstatus) +
                            "); output:\n" + ReadFileTail(log, 3000));
  }
  return Status::Ok();
}

Status CheckResult(PGconn* conn, PGresult* res, std::string_view sql) {
  ExecStatusType st = PQresultStatus(res);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) {
    return Status::Ok();
  }
  std::string msg = res ? PQresultErrorMessage(res) : PQerrorMessage(conn);
  while (!msg.empty() && msg.back() == '\n')
    msg.pop_back();
  return Status::Internal("SQL failed: " + msg + " (in: " + std::string(sql.substr(0, 200)) + ")");
}

}  // namespace

// ---- PgSession ----

Result<PgSession> PgSession::Connect(const std::string& dsn) {
  PGconn* conn = PQconnectdb(dsn.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(conn);
    PQfinish(conn);
    return Status::Unavailable("cannot connect to test cluster: " + msg);
  }
  return PgSession(conn);
}

PgSession::PgSession(PgSession&& other) noexcept : conn_(std::exchange(other.conn_, nullptr)) {}
PgSession& PgSession::operator=(PgSession&& other) noexcept {
  if (this != &other) {
    if (conn_) PQfinish(conn_);
    conn_ = std::exchange(other.conn_, nullptr);
  }
  return *this;
}
PgSession::~PgSession() {
  if (conn_) PQfinish(conn_);
}

Status PgSession::Exec(std::string_view sql) {
  std::string q(sql);
  PGresult* res = PQexec(conn_, q.c_str());
  Status s = CheckResult(conn_, res, sql);
  PQclear(res);
  return s;
}

Result<std::vector<PgRow>> PgSession::Query(std::string_view sql) {
  std::string q(sql);
  PGresult* res = PQexec(conn_, q.c_str());
  Status s = CheckResult(conn_, res, sql);
  if (!s.ok()) {
    PQclear(res);
    return s;
  }
  std::vector<PgRow> rows(PQntuples(res));
  for (int r = 0; r < PQntuples(res); ++r) {
    for (int c = 0; c < PQnfields(res); ++c) {
      if (PQgetisnull(res, r, c)) {
        rows[r].emplace_back(std::nullopt);
      } else {
        rows[r].emplace_back(std::string(PQgetvalue(res, r, c), PQgetlength(res, r, c)));
      }
    }
  }
  PQclear(res);
  return rows;
}

Result<std::string> PgSession::QueryValue(std::string_view sql) {
  PG2BQ_ASSIGN_OR_RETURN(auto rows, Query(sql));
  if (rows.empty() || rows[0].empty()) {
    return Status::NotFound("query returned no rows: " + std::string(sql));
  }
  return rows[0][0].value_or("");
}

int PgSession::BackendPid() const {
  return PQbackendPID(conn_);
}

// ---- PgTestCluster ----

Result<std::unique_ptr<PgTestCluster>> PgTestCluster::Start(PgTestClusterOptions options) {
  std::unique_ptr<PgTestCluster> cluster(new PgTestCluster());
  PG2BQ_RETURN_IF_ERROR(cluster->Init(options));
  return cluster;
}

Status PgTestCluster::Init(const PgTestClusterOptions& options) {
  const char* env_bindir = std::getenv("PG2BQ_PG_BINDIR");
  bindir_ = env_bindir && *env_bindir ? env_bindir : kDefaultBindir;
  if (access((bindir_ + "/initdb").c_str(), X_OK) != 0) {
    return Status::FailedPrecondition("no PostgreSQL binaries in " + bindir_ +
                                      " (install postgresql-15 or set PG2BQ_PG_BINDIR)");
  }

  const char* tmp = std::getenv("TMPDIR");
  // Unix socket paths are limited to ~107 bytes: keep the dir short.
  std::string tmpl =
      std::string(tmp && *tmp && std::strlen(tmp) < 40 ? tmp : "/tmp") + "/pg2bq-pg-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) return Status::IoError(ErrnoText("mkdtemp " + tmpl));
  dir_ = tmpl;
  SpawnReaper();  // from here on, the dir is removed even if we die

  if (RunningAsRoot()) {
    passwd* pw = getpwnam("postgres");
    if (pw == nullptr) {
      return Status::FailedPrecondition(
          "running as root but there is no `postgres` OS user to run PostgreSQL as");
    }
    if (chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      return Status::IoError(ErrnoText("chown " + dir_));
    }
  }
  const std::string pwfile = dir_ + "/pwfile";
  {
    std::ofstream out(pwfile);
    out << kPassword << "\n";
    if (!out) return Status::IoError("cannot write " + pwfile);
  }
  chmod(pwfile.c_str(), 0644);

  PG2BQ_RETURN_IF_ERROR(
      RunPgTool({bindir_ + "/initdb", "-D", data_dir(), "-U", kSuperuser, "--pwfile=" + pwfile,
                 "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C",
                 "--no-sync", "--no-instructions"}));
  std::filesystem::remove(pwfile);

  std::ofstream conf(data_dir() + "/postgresql.conf", std::ios::app);
  conf << "\n# pg2bq test cluster\n";
  conf << "unix_socket_directories = '" << dir_ << "'\n";
  for (const auto& [k, v] : kDefaultSettings)
    conf << k << " = " << v << "\n";
  for (const auto& [k, v] : options.settings)
    conf << k << " = " << v << "\n";
  conf.close();
  if (!conf) return Status::IoError("cannot write " + data_dir() + "/postgresql.conf");

  // The port is picked before the server binds it; on a clash, pick another.
  Status last;
  for (int attempt = 0; attempt < 5; ++attempt) {
    PG2BQ_ASSIGN_OR_RETURN(port_, FreeLoopbackPort());
    last = StartServer();
    if (last.ok()) return last;
    if (LogTail().find("could not bind") == std::string::npos) break;
  }
  return last;
}

Status PgTestCluster::RunPgTool(const std::vector<std::string>& args) const {
  return SpawnAndWait(args, dir_ + "/tools.log");
}

// The reaper is a detached shell (its own session, reparented to init) whose stdin is
// the read end of a pipe we keep open for our whole life. EOF on it means we exited or
// were killed: stop the server and remove the dir. If we tear down normally first, it
// finds nothing to do.
void PgTestCluster::SpawnReaper() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return;  // best effort: the destructor still cleans up
  const std::string stop_cmd =
      std::string(RunningAsRoot() ? "/usr/sbin/runuser -u postgres -- " : "") +
      "\"$0/pg_ctl\" stop -D \"$1/data\" -m immediate -s";
  const std::string script = "exec 3<&0; ( trap '' INT TERM HUP; cat <&3 >/dev/null; " + stop_cmd +
                             " >/dev/null 2>&1; rm -rf \"$1\" ) >/dev/null 2>&1 &";
  std::vector<std::string> args = {"/bin/sh", "-c", script, bindir_, dir_};
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[0], 0);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, "/bin/sh", &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(fds[0]);
  if (rc != 0) {
    close(fds[1]);
    return;
  }
  // The intermediate shell exits at once, leaving the reaper orphaned (owned by init).
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  reaper_pipe_ = fds[1];
}

Status PgTestCluster::StartServer() {
  if (running_) return Status::Ok();
  Status s = RunPgTool({bindir_ + "/pg_ctl", "start", "-w", "-t", "60", "-s", "-D", data_dir(),
                        "-l", log_file(), "-o", "-p " + std::to_string(port_)});
  if (!s.ok()) {
    return s.WithContext("starting PostgreSQL on port " + std::to_string(port_) +
                         "; server log:\n" + LogTail(2000) + "\n");
  }
  running_ = true;
  return Status::Ok();
}

Status PgTestCluster::Stop(std::string_view mode) {
  if (!running_) return Status::Ok();
  running_ = false;
  return RunPgTool({bindir_ + "/pg_ctl", "stop", "-w", "-t", "60", "-s", "-D", data_dir(), "-m",
                    std::string(mode)});
}

Status PgTestCluster::Restart(std::string_view mode) {
  PG2BQ_RETURN_IF_ERROR(Stop(mode));
  return StartServer();
}

PgTestCluster::~PgTestCluster() {
  if (running_) {
    (void)RunPgTool(
        {bindir_ + "/pg_ctl", "stop", "-w", "-t", "30", "-s", "-D", data_dir(), "-m", "immediate"});
  }
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  if (reaper_pipe_ >= 0) close(reaper_pipe_);
}

std::string PgTestCluster::Dsn(std::string_view dbname, std::string_view extra) const {
  std::string dsn = "host=" + host_ + " port=" + std::to_string(port_) + " user=" + kSuperuser +
                    " password=" + kPassword + " dbname=" + std::string(dbname) +
                    " connect_timeout=10";
  if (!extra.empty()) dsn += " " + std::string(extra);
  return dsn;
}

Result<PgSession> PgTestCluster::Connect(std::string_view dbname) const {
  return PgSession::Connect(Dsn(dbname));
}

Status PgTestCluster::Exec(std::string_view sql, std::string_view dbname) const {
  PG2BQ_ASSIGN_OR_RETURN(auto session, Connect(dbname));
  return session.Exec(sql);
}

Result<std::vector<PgRow>> PgTestCluster::Query(std::string_view sql,
                                                std::string_view dbname) const {
  PG2BQ_ASSIGN_OR_RETURN(auto session, Connect(dbname));
  return session.Query(sql);
}

Result<std::string> PgTestCluster::QueryValue(std::string_view sql, std::string_view dbname) const {
  PG2BQ_ASSIGN_OR_RETURN(auto session, Connect(dbname));
  return session.QueryValue(sql);
}

std::string PgTestCluster::LogTail(std::size_t max_bytes) const {
  return ReadFileTail(log_file(), max_bytes);
}

}  // namespace pg2bq::testing
