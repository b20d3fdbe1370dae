// AppendRows client for one BigQuery table: one long-lived bidirectional gRPC stream, several
// requests in flight, each under the size limit, writer schema on the first request of a
// connection and after a descriptor change, responses matched to requests in order, per-row
// errors to the dead-letter file while the rest of the request is resent, retries with
// jittered backoff per gRPC code, reconnect on stream loss. docs/SINK.md describes it.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "sink/cancellation.h"
#include "sink/credentials.h"
#include "sink/dead_letter.h"
#include "sink/encoded_batch.h"
#include "sink/retry_policy.h"
#include "sink/table_descriptor.h"

namespace pg2bq::sink {

struct WriteEndpoint {
  std::string target = "bigquerystorage.googleapis.com:443";
  bool insecure = false;                // plaintext to an explicit emulator endpoint
  std::shared_ptr<TokenSource> tokens;  // required unless insecure
};

// The gRPC channel for an endpoint (TLS with system roots, or insecure).
std::shared_ptr<grpc::Channel> MakeWriteChannel(const WriteEndpoint& endpoint);

struct WriterOptions {
  std::size_t max_request_bytes = 9'500'000;  // the API limit is 10 MB per request
  int max_in_flight = 4;
  std::chrono::milliseconds response_timeout{120'000};  // per request, from send to response
  RetryPolicy retry;
  std::string trace_id = "pg2bq";
  // Change-log tables: write through a COMMITTED stream with offsets, so a resent request
  // can never duplicate rows (ALREADY_EXISTS = it was written). CDC tables must use _default.
  bool use_committed_stream = false;
};

struct WriterStats {
  std::uint64_t requests = 0, rows_sent = 0, rows_acked = 0, bytes_sent = 0;
  std::uint64_t retries = 0, reconnects = 0, dead_letters = 0;
};

class TableWriter {
 public:
  // table_path: "projects/P/datasets/D/tables/T". `dead_letters` may be shared by writers.
  TableWriter(std::shared_ptr<grpc::Channel> channel, std::shared_ptr<TokenSource> tokens,
              std::string table_path, WriterOptions options, DeadLetterWriter* dead_letters);
  ~TableWriter();
  TableWriter(const TableWriter&) = delete;
  TableWriter& operator=(const TableWriter&) = delete;

  // Sends every row of `batch` (encoded with `descriptor`). Returns OK when each row was
  // acknowledged by BigQuery or written (fsynced) to the dead-letter file. Fails -- naming the
  // table, the batch's LSN range and the server's message -- on a non-retryable error, when
  // retries are exhausted, or when `cancel` fires; rows of a failed call may or may not have
  // been written (the caller resends; CDC rows are idempotent, committed-stream offsets dedupe).
  Status Append(const TableDescriptor& descriptor, const EncodedBatch& batch, Cancellation& cancel);

  // Committed-stream state for a checkpoint, and resuming it after a restart.
  struct CommittedStream {
    std::string name;
    std::int64_t next_offset = 0;
  };
  CommittedStream committed_stream() const { return committed_; }
  void ResumeCommittedStream(CommittedStream s) { committed_ = std::move(s); }

  const WriterStats& stats() const { return stats_; }
  const std::string& write_stream() const { return write_stream_; }

 private:
  struct Chunk {
    std::vector<std::uint32_t> rows;  // batch row indexes, in order
    int attempts = 0;
    std::int64_t offset = -1;  // committed stream: offset assigned at send time
    std::chrono::steady_clock::time_point sent_at;
  };
  struct Connection;

  Status Connect(const TableDescriptor& descriptor);
  void Disconnect();
  std::string BuildRequest(const TableDescriptor& descriptor, const EncodedBatch& batch,
                           const Chunk& chunk, bool first_on_connection);
  Status CreateCommittedStream(Cancellation& cancel);
  void Watchdog();
  std::string LsnRange(const EncodedBatch& batch) const;

  std::shared_ptr<grpc::Channel> channel_;
  std::shared_ptr<TokenSource> tokens_;
  std::string table_path_;
  std::string write_stream_;
  WriterOptions options_;
  DeadLetterWriter* dead_letters_;
  WriterStats stats_;
  CommittedStream committed_;
  std::mt19937_64 rng_{std::random_device{}()};

  std::unique_ptr<Connection> conn_;
  std::uint32_t schema_version_sent_ = 0;  // on this connection; 0 = none yet

  // Watchdog: cancels the stream when the oldest request waits too long or on shutdown.
  std::mutex watch_mu_;
  std::condition_variable watch_cv_;
  bool watch_stop_ = false;
  grpc::ClientContext* watch_ctx_ = nullptr;
  Cancellation* watch_cancel_ = nullptr;
  std::chrono::steady_clock::time_point watch_oldest_{};
  bool watch_busy_ = false;
  bool watch_fired_ = false;
  std::thread watchdog_;
};

}  // namespace pg2bq::sink
