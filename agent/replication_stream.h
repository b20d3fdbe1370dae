// ReplicationStream: consumes a pgoutput logical replication slot over libpq.
//
//   ReplicationStream stream(options, &cancel);
//   PG2BQ_RETURN_IF_ERROR(stream.Start());
//   ReplicationBatch batch;
//   while (...) {
//     PG2BQ_RETURN_IF_ERROR(stream.Next(&batch, 1s));
//     if (batch.reconnected) { /* drop decoder state: the server starts over */ }
//     for (const XLogData& m : batch.messages) decode(m.wal_start, m.payload);
//     stream.ReportProgress(written, durable, durable);
//   }
//
// The loop is modelled on pg_recvlogical.c, with one difference that matters for
// speed: while data keeps coming, Next() reads the socket at most every
// `read_pause` (and drains everything it holds), and on a low-latency link the
// socket's receive buffer is kept small. The walsender then gets one ACK (window update)
// per read instead of one per few segments -- measured with `ss`: 5-9 thousand ACKs
// against pg_recvlogical's 73 thousand for the same 300k changes -- and it processes
// those ACKs itself, so it spends less CPU per change (docs/REPLICATION.md).
//
// Confirmation: standby status updates carry exactly the written/flushed/applied
// LSNs the caller reported. The stream never advances them on its own; the slot's
// confirmed_flush only moves to what the caller says is durable.
//
// Reconnect: a dropped connection or server restart inside Next() is retried with
// jittered exponential backoff; streaming resumes from the last flushed LSN the
// caller reported, and the next batch has `reconnected` set.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "agent/cancellation.h"
#include "agent/pg_connection.h"
#include "agent/replication_protocol.h"
#include "common/lsn.h"
#include "common/status.h"

namespace pg2bq::agent {

struct ReplicationStreamOptions {
  std::string dsn;  // libpq conninfo; `replication=database` is added
  std::string slot;
  std::vector<std::string> publications;

  int proto_version = 2;  // 1..3 on PostgreSQL 15; streaming needs >= 2
  bool binary = false;
  bool messages = true;   // pg_logical_emit_message()
  bool streaming = true;  // large in-progress transactions (proto >= 2)

  bool create_slot = false;         // create the pgoutput slot if it does not exist
  bool create_publication = false;  // CREATE PUBLICATION ... FOR ALL TABLES if missing
  // Where to start; kInvalidLsn = the slot's confirmed_flush.
  Lsn start_lsn = kInvalidLsn;

  std::chrono::milliseconds status_interval{10000};
  std::chrono::milliseconds connect_timeout{15000};
  std::chrono::milliseconds command_timeout{60000};
  // While messages keep arriving, read the socket at most this often (0 = whenever
  // data is there, like pg_recvlogical).
  std::chrono::microseconds read_pause{500};
  // SO_RCVBUF of the replication socket. kAutoReceiveBuffer: kSmallReceiveBuffer when
  // the peer is this host (loopback or the socket's own address) or the link's round
  // trip is under 1 ms (TCP_INFO; LAN), the kernel's autotuning otherwise (a small
  // window would cap a long link's throughput); 0: always autotuning; > 0: this size.
  static constexpr int kAutoReceiveBuffer = -1;
  static constexpr int kSmallReceiveBuffer = 96 << 10;
  int socket_receive_buffer = kAutoReceiveBuffer;
  // Stop filling a batch at this many payload bytes (the rest stays buffered).
  std::size_t max_batch_bytes = 8 << 20;

  bool reconnect = true;
  std::chrono::milliseconds reconnect_initial_backoff{200};
  std::chrono::milliseconds reconnect_max_backoff{10000};
  // Give up after this long without a working connection (0 = never).
  std::chrono::milliseconds reconnect_give_up{300000};
};

struct SystemIdentity {
  std::string system_id;
  int timeline = 0;
  Lsn xlogpos = kInvalidLsn;
  std::string dbname;
};

// Messages received by one Next() call. Payload views point into buffers the batch
// owns; they stay valid until the next Next() (or Clear()).
class ReplicationBatch {
 public:
  ReplicationBatch() = default;
  ~ReplicationBatch();
  ReplicationBatch(const ReplicationBatch&) = delete;
  ReplicationBatch& operator=(const ReplicationBatch&) = delete;

  std::vector<XLogData> messages;
  std::size_t payload_bytes = 0;
  // Highest server WAL end seen in this batch (XLogData or keepalive).
  Lsn server_wal_end = kInvalidLsn;
  // A keepalive arrived; with no open transaction the caller may treat its wal_end
  // as processed (confirming it keeps an idle slot from retaining WAL).
  bool keepalive = false;
  Lsn keepalive_wal_end = kInvalidLsn;
  // The connection was re-established before these messages: the server restarts
  // from the last confirmed LSN, so decoder state (open transaction, streamed
  // chunks, relation cache) must be reset.
  bool reconnected = false;

  void Clear();

 private:
  friend class ReplicationStream;
  std::vector<char*> buffers_;  // libpq allocations behind `messages`
};

struct ReplicationCounters {
  std::uint64_t messages = 0;
  std::uint64_t bytes = 0;
  std::uint64_t keepalives = 0;
  std::uint64_t status_updates = 0;
  std::uint64_t reconnects = 0;
  std::uint64_t wakeups = 0;       // poll() returns with data
  std::uint64_t batches = 0;       // Next() calls that returned messages
  std::uint64_t paused_reads = 0;  // of those, reads that followed a read pause
};

class ReplicationStream {
 public:
  ReplicationStream(ReplicationStreamOptions options, const Cancellation* cancel);
  ~ReplicationStream();

  // Connects, checks the server (wal_level, slot, publications), creates what it was
  // asked to create, and sends START_REPLICATION. Errors name the problem.
  Status Start();

  // Waits up to `timeout` for data and returns everything available now (bounded by
  // max_batch_bytes). An empty batch means the timeout passed. Sends status updates
  // when due and answers keepalives that ask for a reply. Reconnects on a dropped
  // connection (see class comment). Aborted when cancelled.
  Status Next(ReplicationBatch* batch, std::chrono::milliseconds timeout);

  // The caller's progress; values only move forward. `flushed` must be durable.
  void ReportProgress(Lsn written, Lsn flushed, Lsn applied);
  // Sends a standby status update now (e.g. before a clean exit).
  Status SendStatusNow();
  // Ends the COPY and closes the connection (no further confirmation).
  void Close();

  const SystemIdentity& identity() const { return identity_; }
  Lsn flushed() const { return flushed_; }
  // The WAL position replication was (last) started from.
  Lsn started_at() const { return started_at_; }
  const ReplicationCounters& counters() const { return counters_; }
  // PID of the walsender serving this stream (for benchmarks).
  int backend_pid() const;
  // SO_RCVBUF as the kernel reports it (Linux doubles what was set); 0 when not connected.
  int socket_receive_buffer() const;

 private:
  Status Connect();
  Status CheckServer();
  Status EnsureSlot();
  Status EnsurePublications();
  Status StartReplication();
  Status SendStatus(bool reply_requested);
  // Moves complete CopyData messages from libpq into `batch`. *got_any tells whether
  // any message was taken. Returns Unavailable when the connection broke.
  Status Drain(ReplicationBatch* batch, bool* got_any);
  Status Reconnect(const Status& why);
  Status WaitReadable(std::chrono::steady_clock::time_point until, bool* readable);
  bool SleepInterruptible(std::chrono::microseconds d);
  void SizeReceiveBuffer();

  ReplicationStreamOptions options_;
  const Cancellation* cancel_;
  std::unique_ptr<PgConnection> conn_;
  SystemIdentity identity_;
  bool copy_active_ = false;

  Lsn written_ = kInvalidLsn;
  Lsn flushed_ = kInvalidLsn;
  Lsn applied_ = kInvalidLsn;
  Lsn started_at_ = kInvalidLsn;
  std::chrono::steady_clock::time_point last_status_{};
  bool busy_ = false;  // the last read found data: pace the next one
  std::chrono::steady_clock::time_point last_read_{};
  ReplicationCounters counters_;
  std::mt19937_64 rng_;
};

}  // namespace pg2bq::agent
