// The counters and gauges of `pg2bq run`, registered once in the agent's MetricsRegistry
// and updated by the pipeline's threads (all updates are relaxed atomics).
#pragma once

#include "agent/metrics.h"
#include "common/status.h"

namespace pg2bq::agent::pipeline {

struct PipelineMetrics {
  Counter* changes_in = nullptr;            // row changes decoded for replicated tables
  Counter* rows_spooled = nullptr;          // encoded rows appended to the spool
  Counter* transactions_in = nullptr;       // committed transactions received
  Counter* transactions_skipped = nullptr;  // already in the spool (restart/reconnect)
  Counter* rows_flushed = nullptr;          // rows acknowledged by BigQuery
  Counter* batches_flushed = nullptr;
  Counter* flush_retries = nullptr;  // failed Append/EnsureTable attempts
  Counter* dead_letters = nullptr;
  Counter* toast_lookups = nullptr;  // unchanged TOAST values read from the source
  Counter* truncates = nullptr;
  Gauge* received_lsn = nullptr;        // server WAL end seen
  Gauge* durable_lsn = nullptr;         // spool durable LSN (= flush LSN sent)
  Gauge* acked_lsn = nullptr;           // highest commit LSN acknowledged by BigQuery
  Gauge* lag_bytes = nullptr;           // received_lsn - acked_lsn
  Gauge* spool_paused = nullptr;        // 1 while the spool budget stops reading
  Gauge* held_paused = nullptr;         // 1 while the held changes' budget stops reading
  Histogram* append_seconds = nullptr;  // one TableWriter::Append call
  // Snapshot copies, per table ("schema.name"); see agent/snapshot/table_sync.h.
  Family<Gauge>* snapshot_rows = nullptr;            // rows copied (incl. earlier runs)
  Family<Gauge>* snapshot_rows_estimated = nullptr;  // planner's estimate of the total
  Family<Gauge>* snapshot_bytes = nullptr;           // COPY bytes received this run
  Family<Gauge>* snapshot_rows_per_second = nullptr;
  Family<Gauge>* snapshot_eta_seconds = nullptr;  // -1 unknown, 0 finished
  Gauge* snapshot_tables_copying = nullptr;
  Counter* snapshot_tables_copied = nullptr;  // copies finished (durable in the spool)

  static Result<PipelineMetrics> Register(MetricsRegistry* registry);
};

}  // namespace pg2bq::agent::pipeline
