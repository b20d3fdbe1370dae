// The sink's acknowledgement: every record before `position` is in BigQuery.
// Stored in DIR/CHECKPOINT, replaced atomically (temp file, fsync, rename, fsync dir).
#pragma once

#include <optional>
#include <string>

#include "common/lsn.h"
#include "common/status.h"
#include "spool/position.h"

namespace pg2bq::spool {

struct Checkpoint {
  Position position;            // first record not yet acknowledged
  Lsn acked_lsn = kInvalidLsn;  // highest commit LSN acknowledged (informational)
};

inline constexpr char kCheckpointFileName[] = "CHECKPOINT";

Status WriteCheckpoint(const std::string& dir, const Checkpoint& checkpoint);
// nullopt when the spool has never been checkpointed; Corruption when the file is damaged.
Result<std::optional<Checkpoint>> ReadCheckpoint(const std::string& dir);

}  // namespace pg2bq::spool
