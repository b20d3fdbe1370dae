#include "agent/replication_stream.h"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

namespace pg2bq::agent {
namespace {

using Clock = std::chrono::steady_clock;

std::string Trim(const char* s) {
  std::string out = s ? s : "";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' '))
    out.pop_back();
  return out;
}

// A replication-grammar string literal ('...' with '' for a quote).
std::string ReplLiteral(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  out += '\'';
  return out;
}

bool RetryableDuringReconnect(const Status& s) {
  if (s.code() == Status::Code::kUnavailable) return true;
  // The walsender serving the dropped connection may not have noticed yet.
  return s.code() == Status::Code::kFailedPrecondition &&
         s.message().find("in use by another process") != std::string::npos;
}

}  // namespace

ReplicationBatch::~ReplicationBatch() {
  Clear();
}

void ReplicationBatch::Clear() {
  for (char* b : buffers_)
    PQfreemem(b);
  buffers_.clear();
  messages.clear();
  payload_bytes = 0;
  server_wal_end = kInvalidLsn;
  keepalive = false;
  keepalive_wal_end = kInvalidLsn;
  reconnected = false;
}

ReplicationStream::ReplicationStream(ReplicationStreamOptions options, const Cancellation* cancel)
    : options_(std::move(options)), cancel_(cancel), rng_(std::random_device{}()) {}

ReplicationStream::~ReplicationStream() {
  Close();
}

int ReplicationStream::backend_pid() const {
  return conn_ ? PQbackendPID(conn_->raw()) : 0;
}

Status ReplicationStream::Start() {
  if (options_.slot.empty()) return Status::InvalidArgument("no replication slot name given");
  if (options_.publications.empty()) return Status::InvalidArgument("no publication name given");
  if (options_.proto_version < 1 || options_.proto_version > 3) {
    return Status::InvalidArgument("pgoutput proto_version must be 1, 2 or 3 on PostgreSQL 15");
  }
  if (options_.streaming && options_.proto_version < 2) {
    return Status::InvalidArgument("streaming of in-progress transactions needs proto_version 2+");
  }
  PG2BQ_RETURN_IF_ERROR(Connect());
  PG2BQ_RETURN_IF_ERROR(CheckServer());
  // The publication must exist before the slot's start point: pgoutput looks it up
  // with the catalog as of each change, so a publication created later than the slot
  // makes older changes fail with "publication does not exist".
  PG2BQ_RETURN_IF_ERROR(EnsurePublications());
  PG2BQ_RETURN_IF_ERROR(EnsureSlot());
  return StartReplication();
}

Status ReplicationStream::Connect() {
  PG2BQ_ASSIGN_OR_RETURN(conn_, PgConnection::Connect(options_.dsn, ConnectionKind::kReplication,
                                                      options_.connect_timeout, cancel_));
  PG2BQ_ASSIGN_OR_RETURN(auto res,
                         conn_->Exec("IDENTIFY_SYSTEM", options_.command_timeout, cancel_));
  if (PQntuples(res.get()) != 1 || PQnfields(res.get()) < 4) {
    return Status::Internal("unexpected IDENTIFY_SYSTEM answer from " + conn_->where());
  }
  identity_.system_id = PQgetvalue(res.get(), 0, 0);
  identity_.timeline = std::atoi(PQgetvalue(res.get(), 0, 1));
  identity_.xlogpos = ParseLsn(PQgetvalue(res.get(), 0, 2)).value_or(kInvalidLsn);
  if (PQgetisnull(res.get(), 0, 3)) {
    return Status::InvalidArgument("the connection to " + conn_->where() +
                                   " is not bound to a database; logical replication needs one "
                                   "(dbname= in the DSN)");
  }
  identity_.dbname = PQgetvalue(res.get(), 0, 3);
  return Status::Ok();
}

Status ReplicationStream::CheckServer() {
  if (PQserverVersion(conn_->raw()) < 140000) {
    return Status::FailedPrecondition("PostgreSQL at " + conn_->where() + " is version " +
                                      std::to_string(PQserverVersion(conn_->raw())) +
                                      "; pg2bq needs 14 or later (15 is tested)");
  }
  PG2BQ_ASSIGN_OR_RETURN(auto res,
                         conn_->Exec("SHOW wal_level", options_.command_timeout, cancel_));
  std::string level = PQntuples(res.get()) == 1 ? PQgetvalue(res.get(), 0, 0) : "?";
  if (level != "logical") {
    return Status::FailedPrecondition(
        "wal_level is '" + level + "' on PostgreSQL at " + conn_->where() +
        "; logical replication needs wal_level = logical (ALTER SYSTEM SET wal_level = "
        "logical; then restart the server)");
  }
  return Status::Ok();
}

Status ReplicationStream::EnsurePublications() {
  for (const std::string& pub : options_.publications) {
    PG2BQ_ASSIGN_OR_RETURN(auto res,
                           conn_->Exec("SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = " +
                                           conn_->QuoteLiteral(pub),
                                       options_.command_timeout, cancel_));
    if (PQntuples(res.get()) == 1) continue;
    if (!options_.create_publication) {
      return Status::NotFound("publication \"" + pub + "\" does not exist in database \"" +
                              identity_.dbname + "\" at " + conn_->where() +
                              " (create it: CREATE PUBLICATION " + conn_->QuoteIdentifier(pub) +
                              " FOR ALL TABLES; or FOR TABLE ...)");
    }
    spdlog::info("creating publication {} FOR ALL TABLES", pub);
    PG2BQ_RETURN_IF_ERROR(
        conn_
            ->Exec("CREATE PUBLICATION " + conn_->QuoteIdentifier(pub) + " FOR ALL TABLES",
                   options_.command_timeout, cancel_)
            .status()
            .WithContext("creating publication \"" + pub + "\""));
  }
  return Status::Ok();
}

Status ReplicationStream::EnsureSlot() {
  PG2BQ_ASSIGN_OR_RETURN(
      auto res,
      conn_->Exec("SELECT s.plugin, s.slot_type, s.database, s.active_pid, r.application_name, "
                  "r.client_addr FROM pg_catalog.pg_replication_slots s LEFT JOIN "
                  "pg_catalog.pg_stat_replication r ON r.pid = s.active_pid "
                  "WHERE s.slot_name = " +
                      conn_->QuoteLiteral(options_.slot),
                  options_.command_timeout, cancel_));
  const std::string slot_desc = "replication slot \"" + options_.slot + "\" at " + conn_->where();
  if (PQntuples(res.get()) == 0) {
    if (!options_.create_slot) {
      return Status::NotFound(slot_desc +
                              " does not exist (create it with --create-slot, or SELECT "
                              "pg_create_logical_replication_slot('" +
                              options_.slot + "', 'pgoutput'))");
    }
    spdlog::info("creating logical replication slot {} (pgoutput)", options_.slot);
    PG2BQ_ASSIGN_OR_RETURN(auto created, conn_->Exec("CREATE_REPLICATION_SLOT " +
                                                         conn_->QuoteIdentifier(options_.slot) +
                                                         " LOGICAL pgoutput (SNAPSHOT 'nothing')",
                                                     options_.command_timeout, cancel_));
    if (PQntuples(created.get()) == 1 && PQnfields(created.get()) >= 2) {
      spdlog::info("slot {} consistent at {}", options_.slot, PQgetvalue(created.get(), 0, 1));
    }
    return Status::Ok();
  }
  const std::string type = PQgetvalue(res.get(), 0, 1);
  if (type != "logical") {
    return Status::FailedPrecondition(slot_desc + " is a " + type + " slot, not a logical one");
  }
  const std::string plugin = PQgetvalue(res.get(), 0, 0);
  if (plugin != "pgoutput") {
    return Status::FailedPrecondition(slot_desc + " uses output plugin '" + plugin +
                                      "'; pg2bq needs a pgoutput slot");
  }
  const std::string db = PQgetvalue(res.get(), 0, 2);
  if (db != identity_.dbname) {
    return Status::FailedPrecondition(slot_desc + " belongs to database \"" + db +
                                      "\" but the connection is to \"" + identity_.dbname + "\"");
  }
  if (!PQgetisnull(res.get(), 0, 3)) {
    std::string who = PQgetisnull(res.get(), 0, 4) ? "" : PQgetvalue(res.get(), 0, 4);
    std::string from = PQgetisnull(res.get(), 0, 5) ? "" : PQgetvalue(res.get(), 0, 5);
    return Status::FailedPrecondition(
        slot_desc + " is in use by another process: active for PID " + PQgetvalue(res.get(), 0, 3) +
        (who.empty() ? "" : " (application_name '" + who + "'") +
        (from.empty() ? (who.empty() ? "" : ")")
                      : (who.empty() ? " (" : ", ") + ("client " + from + ")")) +
        "; stop that consumer or use another slot");
  }
  return Status::Ok();
}

Status ReplicationStream::StartReplication() {
  const Lsn from = flushed_ != kInvalidLsn ? flushed_ : options_.start_lsn;
  std::string pubs;
  for (const std::string& p : options_.publications) {
    if (!pubs.empty()) pubs += ',';
    pubs += conn_->QuoteIdentifier(p);
  }
  std::string cmd = "START_REPLICATION SLOT " + conn_->QuoteIdentifier(options_.slot) +
                    " LOGICAL " + FormatLsn(from) + " (proto_version '" +
                    std::to_string(options_.proto_version) + "', publication_names " +
                    ReplLiteral(pubs);
  if (options_.binary) cmd += ", binary 'true'";
  if (options_.messages) cmd += ", messages 'true'";
  if (options_.streaming) cmd += ", streaming 'true'";
  cmd += ")";
  PG2BQ_ASSIGN_OR_RETURN(auto res, conn_->Exec(cmd, options_.command_timeout, cancel_));
  if (PQresultStatus(res.get()) != PGRES_COPY_BOTH) {
    return Status::Internal("START_REPLICATION did not enter COPY BOTH mode at " + conn_->where());
  }
  SizeReceiveBuffer();
  copy_active_ = true;
  busy_ = false;
  started_at_ = from;
  last_status_ = Clock::now();
  spdlog::debug("streaming slot {} from {} (walsender PID {})", options_.slot, FormatLsn(from),
                backend_pid());
  return Status::Ok();
}

void ReplicationStream::ReportProgress(Lsn written, Lsn flushed, Lsn applied) {
  written_ = std::max(written_, written);
  flushed_ = std::max(flushed_, flushed);
  applied_ = std::max(applied_, applied);
}

Status ReplicationStream::SendStatusNow() {
  if (!copy_active_) return Status::Unavailable("not streaming");
  return SendStatus(false);
}

Status ReplicationStream::SendStatus(bool reply_requested) {
  const std::string msg =
      BuildStandbyStatusUpdate(written_, flushed_, applied_, PgNowMicros(), reply_requested);
  if (PQputCopyData(conn_->raw(), msg.data(), static_cast<int>(msg.size())) != 1) {
    return Status::Unavailable("cannot send a status update to " + conn_->where() + ": " +
                               Trim(PQerrorMessage(conn_->raw())));
  }
  const auto deadline = Clock::now() + options_.command_timeout;
  while (true) {
    int rc = PQflush(conn_->raw());
    if (rc == 0) break;
    if (rc < 0) {
      return Status::Unavailable("cannot send a status update to " + conn_->where() + ": " +
                                 Trim(PQerrorMessage(conn_->raw())));
    }
    PG2BQ_RETURN_IF_ERROR(conn_->WaitSocket(true, deadline, cancel_));
  }
  last_status_ = Clock::now();
  ++counters_.status_updates;
  return Status::Ok();
}

Status ReplicationStream::Drain(ReplicationBatch* batch, bool* got_any) {
  *got_any = false;
  PGconn* pg = conn_->raw();
  bool consumed = false;
  while (batch->payload_bytes < options_.max_batch_bytes) {
    char* buf = nullptr;
    int n = PQgetCopyData(pg, &buf, 1);
    if (n > 0) {
      consumed = false;
      if (buf[0] == 'w') {
        XLogData m;
        Status s = ParseXLogData(std::string_view(buf, n), &m);
        if (!s.ok()) {
          PQfreemem(buf);
          return s.WithContext("from " + conn_->where());
        }
        batch->buffers_.push_back(buf);
        batch->messages.push_back(m);
        batch->payload_bytes += m.payload.size();
        batch->server_wal_end = std::max(batch->server_wal_end, m.wal_end);
        ++counters_.messages;
        counters_.bytes += static_cast<std::uint64_t>(n);
        *got_any = true;
      } else if (buf[0] == 'k') {
        PrimaryKeepalive k;
        Status s = ParsePrimaryKeepalive(std::string_view(buf, n), &k);
        PQfreemem(buf);
        PG2BQ_RETURN_IF_ERROR(s.WithContext("from " + conn_->where()));
        ++counters_.keepalives;
        batch->keepalive = true;
        batch->keepalive_wal_end = std::max(batch->keepalive_wal_end, k.wal_end);
        batch->server_wal_end = std::max(batch->server_wal_end, k.wal_end);
        if (k.reply_requested) PG2BQ_RETURN_IF_ERROR(SendStatus(false));
      } else {
        char type = buf[0];
        PQfreemem(buf);
        return Status::Corruption("unknown replication message type '" + std::string(1, type) +
                                  "' (" + std::to_string(n) + " bytes) from " + conn_->where());
      }
      continue;
    }
    if (n == 0) {
      if (consumed) break;
      // Read whatever the socket holds now (non-blocking), then look again.
      if (PQconsumeInput(pg) == 0) {
        return Status::Unavailable("lost the replication connection to " + conn_->where() + ": " +
                                   Trim(PQerrorMessage(pg)));
      }
      consumed = true;
      continue;
    }
    // -1: the server ended the COPY (shutdown, error); -2: connection trouble.
    copy_active_ = false;
    Status why = Status::Unavailable("replication connection to " + conn_->where() +
                                     " ended: " + Trim(PQerrorMessage(pg)));
    if (n == -1) {
      while (PGresult* r = PQgetResult(pg)) {
        if (PQresultStatus(r) == PGRES_FATAL_ERROR) why = StatusFromResult(r, pg, conn_->where());
        PQclear(r);
      }
    }
    return why;
  }
  return Status::Ok();
}

bool ReplicationStream::SleepInterruptible(std::chrono::microseconds d) {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(d.count() / 1000000);
  ts.tv_nsec = static_cast<long>((d.count() % 1000000) * 1000);
  pollfd pfd{};
  pfd.fd = cancel_ ? cancel_->fd() : -1;
  pfd.events = POLLIN;
  int rc = ppoll(&pfd, cancel_ ? 1 : 0, &ts, nullptr);
  return !(rc > 0 || (cancel_ && cancel_->cancelled()));
}

Status ReplicationStream::WaitReadable(Clock::time_point until, bool* readable) {
  *readable = false;
  pollfd fds[2] = {};
  fds[0].fd = conn_->socket();
  fds[0].events = POLLIN;
  int nfds = 1;
  if (cancel_) {
    fds[1].fd = cancel_->fd();
    fds[1].events = POLLIN;
    nfds = 2;
  }
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
  int timeout_ms = static_cast<int>(std::clamp<long long>(left, 0, 3600000));
  int rc = poll(fds, nfds, timeout_ms);
  if (rc < 0 && errno != EINTR) return Status::IoError(std::string("poll: ") + strerror(errno));
  if (cancel_ && cancel_->cancelled()) return Status::Aborted("cancelled");
  if (rc > 0 && fds[0].revents != 0) {
    *readable = true;
    ++counters_.wakeups;
    if (PQconsumeInput(conn_->raw()) == 0) {
      return Status::Unavailable("lost the replication connection to " + conn_->where() + ": " +
                                 Trim(PQerrorMessage(conn_->raw())));
    }
  }
  return Status::Ok();
}

int ReplicationStream::socket_receive_buffer() const {
  if (!conn_) return 0;
  int size = 0;
  socklen_t len = sizeof(size);
  if (getsockopt(conn_->socket(), SOL_SOCKET, SO_RCVBUF, &size, &len) != 0) return 0;
  return size;
}

namespace {

// Whether the TCP peer is this host: a loopback address, or the socket's own local
// address. Its round trip is short even when TCP_INFO measured a long one on a busy
// machine (the first round trips of a connection include the server's start-up work).
bool PeerIsThisHost(int fd) {
  sockaddr_storage local{}, peer{};
  socklen_t local_len = sizeof(local), peer_len = sizeof(peer);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0 ||
      getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0 ||
      local.ss_family != peer.ss_family) {
    return false;
  }
  if (peer.ss_family == AF_INET) {
    sockaddr_in l{}, p{};
    std::memcpy(&l, &local, sizeof(l));
    std::memcpy(&p, &peer, sizeof(p));
    return (ntohl(p.sin_addr.s_addr) >> 24) == 127 || l.sin_addr.s_addr == p.sin_addr.s_addr;
  }
  if (peer.ss_family == AF_INET6) {
    sockaddr_in6 l{}, p{};
    std::memcpy(&l, &local, sizeof(l));
    std::memcpy(&p, &peer, sizeof(p));
    return IN6_IS_ADDR_LOOPBACK(&p.sin6_addr) ||
           std::memcmp(&l.sin6_addr, &p.sin6_addr, sizeof(p.sin6_addr)) == 0;
  }
  return false;
}

}  // namespace

void ReplicationStream::SizeReceiveBuffer() {
  int size = options_.socket_receive_buffer;
  if (size == ReplicationStreamOptions::kAutoReceiveBuffer) {
    // A small buffer only pays on a short round trip: throughput is capped at
    // window / RTT, which for ~100 KiB over a 1 ms link is still ~100 MB/s.
    tcp_info info{};
    socklen_t len = sizeof(info);
    const int fd = conn_->socket();
    const bool tcp = getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0;
    const bool this_host = tcp && PeerIsThisHost(fd);
    size = tcp && (this_host || info.tcpi_rtt < 1000)
               ? ReplicationStreamOptions::kSmallReceiveBuffer
               : 0;
    spdlog::debug("replication socket: {}, receive buffer {}",
                  !tcp        ? std::string("not TCP")
                  : this_host ? std::string("TCP to this host")
                              : "TCP round trip " + std::to_string(info.tcpi_rtt) + " us",
                  size > 0 ? std::to_string(size) + " bytes" : "autotuned");
  }
  // The kernel caps this at net.core.rmem_max; best effort.
  if (size > 0) (void)setsockopt(conn_->socket(), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
}

Status ReplicationStream::Next(ReplicationBatch* batch, std::chrono::milliseconds timeout) {
  batch->Clear();
  const auto deadline = Clock::now() + timeout;
  while (true) {
    if (cancel_ && cancel_->cancelled()) return Status::Aborted("cancelled");
    if (!copy_active_) {
      PG2BQ_RETURN_IF_ERROR(Reconnect(Status::Unavailable("not connected")));
      batch->reconnected = true;
      return Status::Ok();
    }
    Status s;
    if (Clock::now() - last_status_ >= options_.status_interval) s = SendStatus(false);
    // Data was flowing at the last read: let the walsender fill the socket before the
    // next one (see the header), but never sleep past the caller's deadline.
    const bool paused = s.ok() && busy_ && options_.read_pause.count() > 0;
    if (paused) {
      const auto next_read = std::min(deadline, last_read_ + options_.read_pause);
      const auto now = Clock::now();
      if (now < next_read &&
          !SleepInterruptible(
              std::chrono::duration_cast<std::chrono::microseconds>(next_read - now))) {
        return Status::Aborted("cancelled");
      }
    }
    bool got = false;
    if (s.ok()) s = Drain(batch, &got);
    if (s.ok() && !batch->messages.empty()) {
      ++counters_.batches;
      if (paused) ++counters_.paused_reads;
      busy_ = true;
      last_read_ = Clock::now();
      return Status::Ok();
    }
    busy_ = false;
    if (s.ok() && Clock::now() >= deadline) return Status::Ok();
    // Idle: wake on the first byte.
    if (s.ok()) {
      bool readable = false;
      s = WaitReadable(std::min(deadline, last_status_ + options_.status_interval), &readable);
    }
    if (!s.ok()) {
      if (s.code() != Status::Code::kUnavailable || !options_.reconnect) return s;
      spdlog::warn("{}", s.ToString());
      copy_active_ = false;
      // Hand out what arrived before the drop; reconnect on the next call.
      if (!batch->messages.empty()) return Status::Ok();
    }
  }
}

Status ReplicationStream::Reconnect(const Status& why) {
  conn_.reset();
  copy_active_ = false;
  const auto started = Clock::now();
  auto backoff = options_.reconnect_initial_backoff;
  Status last = why;
  for (int attempt = 1;; ++attempt) {
    if (cancel_ && cancel_->cancelled()) return Status::Aborted("cancelled");
    if (options_.reconnect_give_up.count() > 0 &&
        Clock::now() - started >= options_.reconnect_give_up) {
      return Status::Unavailable("gave up reconnecting after " +
                                 std::to_string(options_.reconnect_give_up.count() / 1000) +
                                 " s; last error: " + last.ToString());
    }
    // Full jitter in [backoff/2, backoff]: many agents restarting together spread out.
    std::uniform_int_distribution<long long> jitter(backoff.count() / 2, backoff.count());
    if (!SleepInterruptible(std::chrono::milliseconds(jitter(rng_)))) {
      return Status::Aborted("cancelled");
    }
    Status s = Connect();
    if (s.ok()) s = StartReplication();
    if (s.ok()) {
      ++counters_.reconnects;
      spdlog::info("replication resumed at {} after {} attempt(s)", FormatLsn(started_at_),
                   attempt);
      return Status::Ok();
    }
    conn_.reset();
    if (!RetryableDuringReconnect(s)) return s;
    spdlog::warn("reconnect attempt {} failed: {}", attempt, s.ToString());
    last = s;
    backoff = std::min(options_.reconnect_max_backoff, backoff * 2);
  }
}

void ReplicationStream::Close() {
  if (conn_ && copy_active_) {
    PQputCopyEnd(conn_->raw(), nullptr);
    PQflush(conn_->raw());
  }
  copy_active_ = false;
  conn_.reset();
}

}  // namespace pg2bq::agent
