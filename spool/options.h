// Configuration of a spool directory and its writer.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace pg2bq::spool {

// When appended records are forced to disk.
//   always: every Append/AppendGroup returns only after its records are fsynced
//           (concurrent appenders share one fsync).
//   batch:  a background thread fsyncs at most `batch_delay` after the first
//           unsynced append; many appends share one fsync.
//   off:    records are written to the OS at most `batch_delay` later but never
//           fsynced: they survive a crash of the agent, not of the machine.
enum class FsyncPolicy { kAlways, kBatch, kOff };

std::optional<FsyncPolicy> ParseFsyncPolicy(std::string_view text);
const char* FsyncPolicyName(FsyncPolicy policy);

struct SpoolOptions {
  std::string dir;
  std::uint64_t segment_bytes = 64ull << 20;  // a segment is sealed once it would exceed this
  std::uint64_t max_bytes = 0;                // disk budget (segments + spill); 0 = none
  FsyncPolicy fsync = FsyncPolicy::kBatch;
  std::chrono::milliseconds batch_delay{10};
  // How long an append waits for the disk budget before giving up with
  // ResourceExhausted (nothing written; the caller retries or shuts down).
  std::chrono::milliseconds budget_wait{1000};
  int zstd_level = 1;
  std::size_t write_buffer_bytes = 1u << 20;  // appended bytes buffered before write(2)

  Status Validate() const;
};

}  // namespace pg2bq::spool
