// How the agent's configuration becomes the sink's endpoint and table-manager settings
// (shared by `pg2bq run` and `pg2bq verify`), and config loading for those commands.
#pragma once

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

// Loads the configuration from command-line tokens (after the sub-command) and the
// environment; prints every problem to stderr. nullopt = invalid.
std::optional<AgentConfig> LoadConfigForCommand(const std::vector<std::string>& args,
                                                const char* command);

}  // namespace pg2bq::agent::pipeline
