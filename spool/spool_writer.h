// SpoolWriter: the only writer of a spool directory (an flock on DIR/LOCK enforces
// it). Thread-safe: the encoder thread appends while a flusher thread reads (through
// SpoolReader) and acknowledges (Acknowledge).
//
// Durability contract:
//   - durable_lsn() is the highest LSN L such that every transaction with commit LSN
//     <= L is entirely in fsynced records (RowBatch::complete_through_lsn and
//     streamed TxnCommit records say which LSN a record completes). It survives
//     restarts: Open() recovers it from the records, segment headers and checkpoint.
//   - Readers see exactly the durable records (tail()).
//   - After an I/O error (failed write or fsync) the writer refuses all further work:
//     the page cache can no longer be trusted. Reopen to recover.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "spool/checkpoint.h"
#include "spool/compression.h"
#include "spool/file_util.h"
#include "spool/metrics.h"
#include "spool/options.h"
#include "spool/record.h"
#include "spool/scan.h"
#include "spool/tail.h"

namespace pg2bq::spool {

class SpoolWriter {
 public:
  // Creates the directory (0700) or recovers an existing one (see scan.h): a torn
  // tail is truncated, damage is quarantined and reported as Corruption.
  static Result<std::unique_ptr<SpoolWriter>> Open(const SpoolOptions& options);
  ~SpoolWriter();
  SpoolWriter(const SpoolWriter&) = delete;
  SpoolWriter& operator=(const SpoolWriter&) = delete;

  // Appends one record; returns where it starts. With fsync=always returns once it
  // is durable. Waits up to options.budget_wait when the disk budget is full, then
  // returns ResourceExhausted having written nothing. TxnAbort records belong to
  // spill files and are refused here.
  Result<Position> Append(const Record& record);
  // Appends records contiguously (never split by a reader's view or a sync): one
  // fsync for all of them with fsync=always. Returns where the first starts.
  Result<Position> AppendGroup(std::span<const Record> records);

  // Streamed in-progress transactions (pgoutput protocol v2). Rows go to a spill file
  // per top-level xid (DIR/spill/), invisible to readers, never in memory.
  // batch.xid is the top-level xid, batch.subxid the (sub)transaction that made them.
  Status AppendStreamed(const RowBatch& batch);
  // Stream Abort: subxid == xid (or 0) drops the whole transaction, otherwise only the
  // rows of that subtransaction.
  Status AbortStreamed(const TxnAbort& abort);
  // Stream Commit: copies the surviving rows into the segments followed by a TxnCommit
  // record, all at once, then deletes the spill file. The caller must already have
  // appended every transaction that committed before it. The copy is exempt from
  // the disk budget (the bytes are already on disk).
  Status CommitStreamed(const TxnCommit& commit);

  // Makes everything appended so far durable now.
  Status Sync();
  // Waits until durable_lsn() >= lsn; Unavailable on timeout.
  Status WaitDurable(Lsn lsn, std::chrono::milliseconds timeout);

  Lsn durable_lsn() const;
  Position durable_end() const;
  Position appended_end() const;

  // The sink acknowledged every record before checkpoint.position. Persists it
  // atomically and deletes segments entirely below it. The position must not be
  // beyond durable_end() nor before the previous checkpoint.
  Status Acknowledge(const Checkpoint& checkpoint);
  std::optional<Checkpoint> last_checkpoint() const;
  // Where a flusher starts after a restart: the checkpoint, or the first record.
  Position start_position() const;

  std::shared_ptr<const SpoolTail> tail() const { return tail_; }
  const SpoolMetrics& metrics() const { return metrics_; }
  const ScanReport& recovery_report() const { return recovery_; }
  const SpoolOptions& options() const { return opts_; }

  // Wakes appends waiting for the budget with Aborted (shutdown path).
  void Cancel();
  // Syncs (unless fsync=off), stops the background thread, closes files.
  Status Close();

 private:
  struct Segment {
    ScopedFd fd;
    std::uint64_t sequence = 0;
    std::string path;
  };
  struct Spill {
    ScopedFd fd;
    std::string path;
    std::uint64_t bytes = 0;
    std::set<std::uint32_t> aborted_subxids;
  };

  explicit SpoolWriter(const SpoolOptions& options);
  Status Init();
  Status CreateSegmentLocked(std::uint64_t sequence, Lsn prior_lsn);
  Status RollLocked();
  Status WritePendingLocked();
  Result<Position> AppendFrameLocked(std::string_view frame, Lsn complete_through);
  Status WaitForSpaceLocked(std::unique_lock<std::mutex>& lk, std::uint64_t bytes);
  std::uint64_t BytesUsedLocked() const;
  Status SyncThrough(Position target);
  void SyncLoop();
  Status EncodeFrames(std::span<const Record> records, std::string* frames,
                      std::vector<std::size_t>* sizes);
  Result<Spill*> SpillForLocked(std::uint32_t xid);
  void DropSpillLocked(std::uint32_t xid);
  Status FailLocked(Status status);

  const SpoolOptions opts_;
  std::shared_ptr<SpoolTail> tail_ = std::make_shared<SpoolTail>();
  SpoolMetrics metrics_;
  ScanReport recovery_;
  ScopedFd lock_fd_;

  // Idle compressors: appenders on several threads (copy workers, the capture) compress at
  // the same time, each with its own zstd context, and only the frame append is serialized.
  std::mutex compressors_mu_;
  std::vector<std::unique_ptr<Compressor>> idle_compressors_;

  mutable std::mutex mu_;
  std::condition_variable space_cv_;
  std::condition_variable durable_cv_;
  std::condition_variable sync_cv_;
  std::shared_ptr<Segment> segment_;
  std::string pending_;  // appended, not yet written to segment_
  Position appended_end_;
  Lsn appended_lsn_ = kInvalidLsn;
  Position durable_end_;
  Lsn durable_lsn_ = kInvalidLsn;
  std::map<std::uint64_t, std::uint64_t> segment_bytes_;  // sequence -> size
  std::map<std::uint32_t, Spill> spills_;
  std::uint64_t spill_bytes_ = 0;
  std::optional<Checkpoint> checkpoint_;
  Status failed_;
  bool closing_ = false;
  bool cancelled_ = false;
  bool unsynced_ = false;
  std::chrono::steady_clock::time_point first_unsynced_;

  std::mutex sync_mu_;        // one sync at a time
  std::mutex checkpoint_mu_;  // one checkpoint write at a time
  std::thread sync_thread_;
};

}  // namespace pg2bq::spool
