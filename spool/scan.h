// Reads a whole spool directory and checks it: segment sequence, headers, every
// frame's checksum and structure. With `repair` (what SpoolWriter::Open does) it
// also makes the directory appendable again:
//   - a torn tail of the last segment (partial frame, truncated header, zero-filled
//     tail, a last frame whose end never reached the disk) is truncated away;
//   - a streamed transaction whose commit record is missing at the end (crash in the
//     middle of copying it in) is truncated away: PostgreSQL sends it again;
//   - segments entirely below the checkpoint (left by a crash during clean-up) are
//     deleted;
//   - a damaged segment (bad checksum before the tail, damage in a sealed segment)
//     is moved to quarantine/ and the scan fails, naming the segment and offset.
// Without `repair` nothing on disk changes (`pg2bq spool inspect|verify`).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/lsn.h"
#include "common/status.h"
#include "spool/checkpoint.h"
#include "spool/position.h"

namespace pg2bq::spool {

struct SegmentSummary {
  std::uint64_t sequence = 0;
  std::uint64_t file_size = 0;
  std::uint64_t valid_end = 0;  // offset after the last good frame
  Lsn prior_lsn = kInvalidLsn;
  std::uint64_t records = 0;
  std::array<std::uint64_t, 6> records_by_type{};  // index = RecordType value
  std::uint64_t rows = 0;
  std::uint64_t stored_payload_bytes = 0;  // payload bytes as stored (compressed)
  std::uint64_t raw_payload_bytes = 0;     // payload bytes before compression
  Lsn min_lsn = kInvalidLsn;               // over row batch commit LSNs and commits
  Lsn max_lsn = kInvalidLsn;
};

struct ScanReport {
  std::optional<Checkpoint> checkpoint;
  std::vector<SegmentSummary> segments;  // in sequence order, those still in use
  Position end;                          // after the last good record; {0,0} if none
  // Highest LSN through which the spool is complete (records, segment headers, and
  // the checkpoint): what SpoolWriter::durable_lsn() starts from.
  Lsn durable_lsn = kInvalidLsn;
  std::string torn_tail;  // empty, or what was (or would be) truncated and where
  std::uint64_t torn_bytes = 0;
  std::string incomplete_streamed_txn;        // empty, or the uncommitted streamed txn at the end
  std::vector<std::uint64_t> stale_segments;  // below the checkpoint (deleted when repairing)
};

struct ScanOptions {
  bool repair = false;           // truncate torn tails, quarantine damage, delete stale
  bool decode_payloads = false;  // also decompress every payload (verify)
};

Result<ScanReport> ScanSpool(const std::string& dir, const ScanOptions& options);

inline constexpr char kQuarantineDir[] = "quarantine";

}  // namespace pg2bq::spool
