#include "agent/snapshot/spool_append.h"

namespace pg2bq::agent::snapshot {

Status AppendWhenSpoolHasRoom(spool::SpoolWriter* spool, const spool::Record& record,
                              std::chrono::milliseconds patience, const Cancellation* cancel) {
  const auto give_up = std::chrono::steady_clock::now() + patience;
  for (;;) {
    // Append itself waits up to spool.budget_wait for room before it gives up.
    auto pos = spool->Append(record);
    if (pos.ok()) return Status::Ok();
    if (pos.status().code() != Status::Code::kResourceExhausted ||
        std::chrono::steady_clock::now() > give_up)
      return pos.status();
    if (cancel != nullptr && cancel->cancelled()) return Status::Aborted("copy cancelled");
  }
}

}  // namespace pg2bq::agent::snapshot
