// AppendWhenSpoolHasRoom: how a copy appends to the main spool. A full disk budget is
// back-pressure, not an error (BigQuery's acknowledgements free space), so a copy waits for
// room -- up to `patience`, or until `cancel` -- where the stream's reader does the same in
// Capture::AppendGroup. Anything else (an I/O error, a closed writer) is returned at once.
#pragma once

#include <chrono>

#include "agent/cancellation.h"
#include "common/status.h"
#include "spool/record.h"
#include "spool/spool_writer.h"

namespace pg2bq::agent::snapshot {

Status AppendWhenSpoolHasRoom(spool::SpoolWriter* spool, const spool::Record& record,
                              std::chrono::milliseconds patience, const Cancellation* cancel);

// How long a copy waits for spool budget before it fails (and is retried or resumed).
inline constexpr std::chrono::milliseconds kCopyBudgetPatience = std::chrono::hours(1);

}  // namespace pg2bq::agent::snapshot
