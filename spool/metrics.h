// Counters and gauges of a spool writer, readable from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace pg2bq::spool {

struct SpoolMetrics {
  std::atomic<std::uint64_t> records_appended{0};
  std::atomic<std::uint64_t> frame_bytes_appended{0};  // on-disk bytes (compressed)
  std::atomic<std::uint64_t> raw_payload_bytes_appended{0};
  std::atomic<std::uint64_t> fsyncs{0};
  std::atomic<std::uint64_t> bytes_on_disk{0};  // segments + spill files
  std::atomic<std::uint64_t> segments{0};
  std::atomic<std::uint64_t> durable_lsn{0};
  // Disk budget: 1 while an append waits for space; how often and how long.
  std::atomic<std::uint64_t> budget_blocked{0};
  std::atomic<std::uint64_t> budget_waits_total{0};
  std::atomic<std::uint64_t> budget_wait_micros_total{0};
  std::atomic<std::uint64_t> budget_timeouts_total{0};
  std::atomic<std::uint64_t> spill_bytes{0};
  std::atomic<std::uint64_t> streamed_txns_committed{0};
  std::atomic<std::uint64_t> streamed_txns_aborted{0};
  std::atomic<std::uint64_t> subtxns_aborted{0};

  // Prometheus text exposition, metric names prefixed "pg2bq_spool_".
  std::string ToPrometheus() const;
};

}  // namespace pg2bq::spool
