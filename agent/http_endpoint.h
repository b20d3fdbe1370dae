// The agent's HTTP endpoint: /metrics (Prometheus text), /healthz (the process
// answers) and /readyz (the readiness check says the agent can do its job).
//
// It runs its own small thread pool next to the pipeline, so a slow scraper
// never delays replication, and it shuts down cleanly from Stop() or the
// destructor (in-flight requests finish, the listening socket is closed).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "common/status.h"

namespace httplib {
class Server;
}

namespace pg2bq::agent {

class MetricsRegistry;

struct HostPort {
  std::string host;  // without brackets for IPv6
  int port = 0;      // 0 = pick a free port (listening only)
};

// "127.0.0.1:9187", "[::1]:0", "localhost:9187", ":9187" (all interfaces).
Result<HostPort> ParseListenAddress(std::string_view text);

// Ok = ready; otherwise the message says what the agent is waiting for.
using ReadinessCheck = std::function<Status()>;

class HttpEndpoint {
 public:
  // Binds `address` (fails now, with the address in the message, if it cannot)
  // and starts serving. `registry` must outlive the endpoint. A null `ready`
  // means always ready.
  static Result<std::unique_ptr<HttpEndpoint>> Start(std::string_view address,
                                                     const MetricsRegistry* registry,
                                                     ReadinessCheck ready);
  ~HttpEndpoint();  // Stop()
  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;

  // The bound port (the chosen one when the address said port 0).
  int port() const { return port_; }
  const std::string& host() const { return host_; }

  // Idempotent; returns once the server thread has exited.
  void Stop();

 private:
  HttpEndpoint() = default;

  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::atomic<bool> serving_done_{false};
  std::string host_;
  int port_ = 0;
};

}  // namespace pg2bq::agent
