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
  Histogram* append_seconds = nullptr;  // one TableWriter::Append call

  static Result<PipelineMetrics> Register(MetricsRegistry* registry);
};

}  // namespace pg2bq::agent::pipeline
