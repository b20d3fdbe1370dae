#include "agent/pipeline/target_setup.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "sink/credentials.h"

namespace pg2bq::agent::pipeline {

Result<TargetSetup> MakeTargetSetup(const AgentConfig& config) {
  TargetSetup t;
  t.endpoint.target = config.target.grpc_endpoint;
  t.endpoint.insecure = config.target.insecure;
  if (!config.target.insecure) {
    if (!config.target.credentials_file.empty()) {
      PG2BQ_ASSIGN_OR_RETURN(t.endpoint.tokens,
                             sink::MakeTokenSourceFromFile(config.target.credentials_file));
    } else {
      PG2BQ_ASSIGN_OR_RETURN(t.endpoint.tokens, sink::MakeApplicationDefaultTokenSource());
    }
  }
  t.tables.base_url = config.target.rest_endpoint;
  t.tables.tokens = t.endpoint.tokens;
  t.tables.project = config.target.project;
  t.tables.dataset = config.target.dataset;
  return t;
}

Status CheckTarget(const TargetSetup& target, bool first_start, std::chrono::seconds timeout) {
  sink::TableManagerOptions o = target.tables;
  o.timeout = timeout;
  Status s = sink::TableManager(o).CheckDataset();
  if (s.ok()) {
    auto channel = sink::MakeWriteChannel(target.endpoint);
    if (!channel->WaitForConnected(std::chrono::system_clock::now() + timeout)) {
      s = Status::Unavailable("the Storage Write API endpoint " + target.endpoint.target +
                              " did not accept a connection within " +
                              std::to_string(timeout.count()) + " s");
    }
  }
  if (s.ok() || s.code() != Status::Code::kUnavailable) return s;
  if (first_start) {
    return Status::Unavailable(s.message() +
                               " (first start: check target.rest_endpoint / "
                               "target.grpc_endpoint and the network)");
  }
  spdlog::warn("target not reachable now ({}); changes are spooled and sent when it answers",
               s.message());
  return Status::Ok();
}

std::optional<AgentConfig> LoadConfigForCommand(const std::vector<std::string>& args,
                                                const char* command) {
  ConfigInputs inputs;
  inputs.args = args;
  inputs.env = ProcessEnvironment();
  ConfigLoadResult loaded = LoadAgentConfig(inputs);
  for (const std::string& w : loaded.warnings)
    std::fprintf(stderr, "warning: %s\n", w.c_str());
  if (!loaded.ok()) {
    for (const std::string& p : loaded.problems)
      std::fprintf(stderr, "error: %s\n", p.c_str());
    std::fprintf(stderr, "pg2bq %s: %zu configuration problem%s; nothing was started\n", command,
                 loaded.problems.size(), loaded.problems.size() == 1 ? "" : "s");
    return std::nullopt;
  }
  return loaded.config;
}

}  // namespace pg2bq::agent::pipeline
