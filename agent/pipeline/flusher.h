// Flusher: the BigQuery side of `pg2bq run`. One dispatcher thread reads the spool in
// order (SpoolReader, from the sink checkpoint) and hands each table's batches to one of
// `parallelism` worker threads (a table always goes to the same worker, so its order is
// kept) over bounded queues. Workers make sure the target table matches the batch's
// descriptor version (TableManager: create dataset/table, add nullable columns) and send
// the rows (TableWriter), retrying with backoff until BigQuery acknowledges them.
//
// Checkpoint: the acknowledged prefix of the spool (every record before it is in BigQuery
// or needed no sending) is persisted with SpoolWriter::Acknowledge, which also deletes the
// segments below it. After a restart flushing resumes there; rows sent again carry the
// same change sequence numbers, so BigQuery keeps the same final state.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "agent/pipeline/descriptor_store.h"
#include "agent/pipeline/pipeline_metrics.h"
#include "common/bounded_queue.h"
#include "sink/append_rows_writer.h"
#include "sink/cancellation.h"
#include "sink/dead_letter.h"
#include "sink/encode_policies.h"
#include "sink/table_manager.h"
#include "spool/spool_reader.h"
#include "spool/spool_writer.h"

namespace pg2bq::agent::pipeline {

struct FlusherOptions {
  int parallelism = 4;
  sink::WriteEndpoint endpoint;
  sink::TableManagerOptions tables;
  sink::WriterOptions writer;
  sink::EncodePolicies policies;
  std::chrono::milliseconds checkpoint_interval{200};
  // Rows handed to the workers and not yet acknowledged, in bytes (one record may exceed
  // it when nothing else is out). The queues alone bound records, not bytes: 16 spool
  // records of up to flush.batch_max_bytes per worker would be 512 MiB with 4 workers.
  std::size_t max_queued_bytes = 64 << 20;
  // Called (from a flusher thread) once a table's snapshot end marker -- and so every copied
  // row before it -- is part of the acknowledged prefix of the spool. Again after a restart
  // if the checkpoint had not passed it.
  std::function<void(std::uint32_t table_id, Lsn hold_from)> on_snapshot_acked;
};

class Flusher {
 public:
  Flusher(FlusherOptions options, spool::SpoolWriter* spool, DescriptorStore* descriptors,
          sink::DeadLetterWriter* dead_letters, PipelineMetrics* metrics);
  ~Flusher();

  Status Start();
  // Stops once everything durable in the spool when this is called (plus what the reader
  // still appends before it stops) is acknowledged, or at `deadline`, whichever is first;
  // writes the final checkpoint. Ok when it drained completely.
  Status Drain(std::chrono::steady_clock::time_point deadline);
  // Stops at once (fatal error elsewhere); writes the checkpoint of what was acknowledged.
  void Abort();

  // The first fatal error of a flusher thread (non-retryable), or Ok.
  Status failure() const;
  // True when every durable record was acknowledged at the time of the call.
  bool caught_up() const;

 private:
  struct WorkItem {
    std::uint64_t seq = 0;  // ack tracker index
    std::uint32_t table_id = 0;
    std::size_t bytes = 0;  // counted in queued_bytes_ until flushed
    std::shared_ptr<const sink::TableDescriptor> descriptor;  // null for a TRUNCATE
    spool::RowBatch batch;
  };
  struct Worker {
    std::unique_ptr<BoundedQueue<WorkItem>> queue;
    std::thread thread;
  };
  struct TargetTable {
    std::unique_ptr<sink::TableWriter> writer;
    // Every version made to match, not just the highest: version numbers follow the order
    // descriptors were created, which is not always the order of the shapes (a run-time
    // copy may register its snapshot's older shape after a newer Relation message).
    std::set<std::uint32_t> ensured_versions;
    std::string table_id;
  };

  void DispatchLoop();
  // Waits until `bytes` more fit under max_queued_bytes; false when stopping.
  bool ReserveQueued(std::size_t bytes);
  void ReleaseQueued(std::size_t bytes);
  // Waits until every tracked record up to `seq` is acknowledged; false when stopping.
  bool WaitAcknowledged(std::uint64_t seq);
  void WorkerLoop(int index);
  Status Flush(WorkItem& item, std::map<std::uint32_t, TargetTable>* tables);
  Status Truncate(WorkItem& item, TargetTable* target);
  Status EnsureTable(const sink::TableDescriptor& d, TargetTable* target);
  // Ack tracker.
  std::uint64_t Track(const spool::SpoolEntry& entry, Lsn lsn,
                      const spool::SnapshotMarker* snapshot_end = nullptr);
  void Done(std::uint64_t seq);
  void DoneLocked(std::uint64_t seq, std::vector<std::pair<std::uint32_t, Lsn>>* copies_acked);
  Status WriteCheckpoint();
  void Fail(const Status& s);

  FlusherOptions options_;
  spool::SpoolWriter* spool_;
  DescriptorStore* descriptors_;
  sink::DeadLetterWriter* dead_letters_;
  PipelineMetrics* metrics_;
  std::shared_ptr<grpc::Channel> channel_;
  sink::Cancellation cancel_;  // sink calls (backoff, streams)

  std::vector<Worker> workers_;
  std::thread dispatcher_;
  std::atomic<bool> stop_dispatch_{false};
  std::mutex queued_mu_;
  std::condition_variable queued_cv_;
  std::size_t queued_bytes_ = 0;
  std::atomic<bool> draining_{false};
  spool::Position drain_target_;

  mutable std::mutex mu_;
  struct Tracked {
    spool::Position next;
    Lsn lsn = kInvalidLsn;
    bool done = false;
    std::uint32_t snapshot_table = 0;  // a snapshot end marker of this table
    Lsn hold_from = kInvalidLsn;
  };
  std::deque<Tracked> tracked_;
  std::uint64_t tracked_base_ = 0;  // seq of tracked_.front()
  spool::Position acked_;           // first record not acknowledged
  Lsn acked_lsn_ = kInvalidLsn;
  spool::Position checkpointed_;
  spool::Position read_pos_;  // dispatcher's reader position
  Status failure_;
};

}  // namespace pg2bq::agent::pipeline
