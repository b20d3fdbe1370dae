// Faults the emulator injects on purpose, so the agent's retry paths can be
// tested: an outage switch (every call UNAVAILABLE), error rates per RPC and
// gRPC code, added latency, and dropping an AppendRows connection after N
// requests. Set by flags at start and changed at run time over the admin HTTP
// endpoint (/admin/faults); thread-safe.
#pragma once

#include <grpcpp/grpcpp.h>

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>

#include "common/status.h"

namespace pg2bq::bqemu {

class FaultInjector {
 public:
  FaultInjector() : rng_(std::random_device{}()) {}

  // "RPC:CODE:RATE", e.g. "AppendRows:UNAVAILABLE:0.1"; RPC may be "*".
  Status AddErrorRate(const std::string& spec);
  void SetOutage(bool on);
  void SetLatencyMs(int ms);
  void SetDropStreamAfter(int requests);

  // Applies latency, then returns the error to inject for this call of `rpc`
  // (one AppendRows request counts as one call), if any.
  std::optional<grpc::Status> Before(const std::string& rpc);
  bool outage() const;
  // 0 = never; otherwise an AppendRows connection is cut (UNAVAILABLE) when
  // its (N+1)th request arrives.
  int drop_stream_after() const;

  nlohmann::json ToJson() const;
  // Applies the members present in `update` (same shape as ToJson()).
  Status Apply(const nlohmann::json& update);
  void Reset();

 private:
  mutable std::mutex mu_;
  bool outage_ = false;
  int latency_ms_ = 0;
  int drop_stream_after_ = 0;
  std::map<std::string, std::map<std::string, double>> error_rates_;  // rpc -> code -> rate
  std::mt19937_64 rng_;
};

// gRPC code from its canonical name ("UNAVAILABLE"); only the codes that make
// sense to inject are accepted.
std::optional<grpc::StatusCode> InjectableCode(const std::string& name);

}  // namespace pg2bq::bqemu
