// How the agent's configuration becomes the sink's endpoint and table-manager settings
// (shared by `pg2bq run` and `pg2bq verify`), and config loading for those commands.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "agent/config.h"
#include "common/status.h"
#include "sink/append_rows_writer.h"
#include "sink/table_manager.h"

namespace pg2bq::agent::pipeline {

struct TargetSetup {
  sink::WriteEndpoint endpoint;
  sink::TableManagerOptions tables;
};

// Token source (none for an insecure emulator endpoint), gRPC target, REST base URL.
Result<TargetSetup> MakeTargetSetup(const AgentConfig& config);

// Start-up check that the target answers: the REST API for the dataset, and the Storage
// Write API endpoint accepting a connection, each within `timeout`. Rejected credentials,
// permissions or names are errors. An unreachable target is an error on a first start
// (nothing replicated yet: most likely a wrong endpoint) and only a warning on a restart
// (an outage: the agent keeps draining the slot into the spool; the flusher retries).
Status CheckTarget(const TargetSetup& target, bool first_start, std::chrono::seconds timeout);

// Loads the configuration from command-line tokens (after the sub-command) and the
// environment; prints every problem to stderr. nullopt = invalid.
std::optional<AgentConfig> LoadConfigForCommand(const std::vector<std::string>& args,
                                                const char* command);

}  // namespace pg2bq::agent::pipeline
