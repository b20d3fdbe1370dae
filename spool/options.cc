#include "spool/options.h"

#include <zstd.h>

namespace pg2bq::spool {

std::optional<FsyncPolicy> ParseFsyncPolicy(std::string_view text) {
  if (text == "always") return FsyncPolicy::kAlways;
  if (text == "batch") return FsyncPolicy::kBatch;
  if (text == "off") return FsyncPolicy::kOff;
  return std::nullopt;
}

const char* FsyncPolicyName(FsyncPolicy policy) {
  switch (policy) {
    case FsyncPolicy::kAlways:
      return "always";
    case FsyncPolicy::kBatch:
      return "batch";
    case FsyncPolicy::kOff:
      return "off";
  }
  return "?";
}

Status SpoolOptions::Validate() const {
  if (dir.empty()) return Status::InvalidArgument("spool: dir is empty");
  if (segment_bytes < 4096) {
    return Status::InvalidArgument("spool: segment_bytes must be at least 4096, got " +
                                   std::to_string(segment_bytes));
  }
  // Acknowledgements free whole segments only; below two segments the budget could
  // fill with the open segment alone and never drain.
  if (max_bytes != 0 && max_bytes < 2 * segment_bytes) {
    return Status::InvalidArgument("spool: max_bytes (" + std::to_string(max_bytes) +
                                   ") must be 0 or at least twice segment_bytes (" +
                                   std::to_string(segment_bytes) + ")");
  }
  if (batch_delay.count() <= 0) return Status::InvalidArgument("spool: batch_delay must be > 0");
  if (zstd_level < ZSTD_minCLevel() || zstd_level > ZSTD_maxCLevel()) {
    return Status::InvalidArgument("spool: zstd_level " + std::to_string(zstd_level) +
                                   " outside zstd's range");
  }
  return Status::Ok();
}

}  // namespace pg2bq::spool
