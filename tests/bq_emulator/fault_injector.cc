#include "tests/bq_emulator/fault_injector.h"

#include <chrono>
#include <thread>

namespace pg2bq::bqemu {

std::optional<grpc::StatusCode> InjectableCode(const std::string& name) {
  if (name == "UNAVAILABLE") return grpc::StatusCode::UNAVAILABLE;
  if (name == "RESOURCE_EXHAUSTED") return grpc::StatusCode::RESOURCE_EXHAUSTED;
  if (name == "INTERNAL") return grpc::StatusCode::INTERNAL;
  if (name == "ABORTED") return grpc::StatusCode::ABORTED;
  if (name == "DEADLINE_EXCEEDED") return grpc::StatusCode::DEADLINE_EXCEEDED;
  if (name == "UNKNOWN") return grpc::StatusCode::UNKNOWN;
  return std::nullopt;
}

namespace {
const char* kRpcs[] = {"*",
                       "CreateWriteStream",
                       "AppendRows",
                       "GetWriteStream",
                       "FinalizeWriteStream",
                       "BatchCommitWriteStreams",
                       "FlushRows"};
bool KnownRpc(const std::string& rpc) {
  for (const char* r : kRpcs) {
    if (rpc == r) return true;
  }
  return false;
}
}  // namespace

Status FaultInjector::AddErrorRate(const std::string& spec) {
  size_t a = spec.find(':');
  size_t b = a == std::string::npos ? a : spec.find(':', a + 1);
  if (b == std::string::npos) {
    return Status::InvalidArgument("--error-rate '" + spec + "': expected RPC:CODE:RATE");
  }
  nlohmann::json update;
  try {
    update["error_rates"][spec.substr(0, a)][spec.substr(a + 1, b - a - 1)] =
        std::stod(spec.substr(b + 1));
  } catch (const std::exception&) {
    return Status::InvalidArgument("--error-rate '" + spec + "': RATE is not a number");
  }
  return Apply(update).WithContext("--error-rate '" + spec + "'");
}

void FaultInjector::SetOutage(bool on) {
  std::lock_guard lock(mu_);
  outage_ = on;
}
void FaultInjector::SetLatencyMs(int ms) {
  std::lock_guard lock(mu_);
  latency_ms_ = ms;
}
void FaultInjector::SetDropStreamAfter(int requests) {
  std::lock_guard lock(mu_);
  drop_stream_after_ = requests;
}
bool FaultInjector::outage() const {
  std::lock_guard lock(mu_);
  return outage_;
}
int FaultInjector::drop_stream_after() const {
  std::lock_guard lock(mu_);
  return drop_stream_after_;
}

std::optional<grpc::Status> FaultInjector::Before(const std::string& rpc) {
  int latency;
  {
    std::lock_guard lock(mu_);
    latency = latency_ms_;
  }
  if (latency > 0) std::this_thread::sleep_for(std::chrono::milliseconds(latency));
  std::lock_guard lock(mu_);
  if (outage_) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "The service is currently unavailable (bq-emulator outage switch is on)");
  }
  for (const char* key : {rpc.c_str(), "*"}) {
    auto it = error_rates_.find(key);
    if (it == error_rates_.end()) continue;
    for (const auto& [code, rate] : it->second) {
      if (std::uniform_real_distribution<double>(0, 1)(rng_) < rate) {
        return grpc::Status(*InjectableCode(code),
                            "Injected " + code + " for " + rpc + " (bq-emulator fault injection)");
      }
    }
  }
  return std::nullopt;
}

nlohmann::json FaultInjector::ToJson() const {
  std::lock_guard lock(mu_);
  nlohmann::json rates = nlohmann::json::object();
  for (const auto& [rpc, codes] : error_rates_) {
    for (const auto& [code, rate] : codes)
      rates[rpc][code] = rate;
  }
  return {{"outage", outage_},
          {"latency_ms", latency_ms_},
          {"drop_stream_after", drop_stream_after_},
          {"error_rates", rates}};
}

Status FaultInjector::Apply(const nlohmann::json& update) {
  if (!update.is_object()) return Status::InvalidArgument("fault settings must be a JSON object");
  // Validate everything before changing anything.
  for (const auto& [key, value] : update.items()) {
    if (key == "outage" && !value.is_boolean()) return Status::InvalidArgument("outage: boolean");
    if ((key == "latency_ms" || key == "drop_stream_after") &&
        (!value.is_number_integer() || value.get<int64_t>() < 0)) {
      return Status::InvalidArgument(key + ": non-negative integer");
    }
    if (key == "error_rates") {
      if (!value.is_object()) return Status::InvalidArgument("error_rates: object");
      for (const auto& [rpc, codes] : value.items()) {
        if (!KnownRpc(rpc)) return Status::InvalidArgument("error_rates: unknown RPC " + rpc);
        if (!codes.is_object()) return Status::InvalidArgument("error_rates." + rpc + ": object");
        for (const auto& [code, rate] : codes.items()) {
          if (!InjectableCode(code)) {
            return Status::InvalidArgument("error_rates: code " + code +
                                           " (use UNAVAILABLE, RESOURCE_EXHAUSTED, INTERNAL, "
                                           "ABORTED, DEADLINE_EXCEEDED or UNKNOWN)");
          }
          if (!rate.is_number() || rate.get<double>() < 0 || rate.get<double>() > 1) {
            return Status::InvalidArgument("error_rates: rate must be a number in [0, 1]");
          }
        }
      }
    }
    if (key != "outage" && key != "latency_ms" && key != "drop_stream_after" &&
        key != "error_rates") {
      return Status::InvalidArgument("unknown fault setting " + key);
    }
  }
  std::lock_guard lock(mu_);
  if (update.contains("outage")) outage_ = update["outage"].get<bool>();
  if (update.contains("latency_ms")) latency_ms_ = update["latency_ms"].get<int>();
  if (update.contains("drop_stream_after"))
    drop_stream_after_ = update["drop_stream_after"].get<int>();
  if (update.contains("error_rates")) {
    // An empty object switches every rate off; otherwise rates merge (0 removes one).
    if (update["error_rates"].empty()) error_rates_.clear();
    for (const auto& [rpc, codes] : update["error_rates"].items()) {
      for (const auto& [code, rate] : codes.items()) {
        if (rate.get<double>() == 0) {
          error_rates_[rpc].erase(code);
        } else {
          error_rates_[rpc][code] = rate.get<double>();
        }
      }
      if (error_rates_[rpc].empty()) error_rates_.erase(rpc);
    }
  }
  return Status::Ok();
}

void FaultInjector::Reset() {
  std::lock_guard lock(mu_);
  outage_ = false;
  latency_ms_ = 0;
  drop_stream_after_ = 0;
  error_rates_.clear();
}

}  // namespace pg2bq::bqemu
