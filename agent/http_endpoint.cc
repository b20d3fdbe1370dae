#include "agent/http_endpoint.h"

#include <fmt/format.h>
#include <httplib.h>

#include <charconv>
#include <chrono>

#include "agent/metrics.h"

namespace pg2bq::agent {

Result<HostPort> ParseListenAddress(std::string_view text) {
  HostPort hp;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return Status::InvalidArgument("is not [ipv6]:port");
    }
    hp.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return Status::InvalidArgument("is not host:port");
    hp.host = std::string(text.substr(0, colon));
    if (hp.host.find(':') != std::string::npos) {
      return Status::InvalidArgument("is not host:port (write IPv6 addresses as [addr]:port)");
    }
    port_text = text.substr(colon + 1);
  }
  if (hp.host.empty()) hp.host = "0.0.0.0";
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), hp.port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
      hp.port < 0 || hp.port > 65535) {
    return Status::InvalidArgument("has no valid port (0-65535)");
  }
  return hp;
}

Result<std::unique_ptr<HttpEndpoint>> HttpEndpoint::Start(std::string_view address,
                                                          const MetricsRegistry* registry,
                                                          ReadinessCheck ready) {
  auto parsed = ParseListenAddress(address);
  if (!parsed.ok()) {
    return Status::InvalidArgument(
        fmt::format("metrics address '{}' {}", address, parsed.status().message()));
  }
  std::unique_ptr<HttpEndpoint> ep(new HttpEndpoint());
  ep->server_ = std::make_unique<httplib::Server>();
  httplib::Server& svr = *ep->server_;
  // Two workers are plenty for scrapes and probes; the default is one per core (min 8).
  svr.new_task_queue = [] { return new httplib::ThreadPool(2); };
  svr.set_keep_alive_timeout(2);
  svr.set_read_timeout(5, 0);
  svr.set_write_timeout(5, 0);
  // httplib's default adds SO_REUSEPORT, which would let a second agent bind the
  // same port and answer half of the scrapes: keep only SO_REUSEADDR.
  svr.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });

  svr.Get("/metrics", [registry](const httplib::Request&, httplib::Response& res) {
    res.set_content(registry->RenderText(), "text/plain; version=0.0.4; charset=utf-8");
  });
  svr.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain; charset=utf-8");
  });
  svr.Get("/readyz", [ready = std::move(ready)](const httplib::Request&, httplib::Response& res) {
    Status s = ready ? ready() : Status::Ok();
    if (s.ok()) {
      res.set_content("ready\n", "text/plain; charset=utf-8");
    } else {
      res.status = 503;
      res.set_content("not ready: " + s.message() + "\n", "text/plain; charset=utf-8");
    }
  });

  const HostPort& hp = *parsed;
  if (hp.port == 0) {
    ep->port_ = svr.bind_to_any_port(hp.host);
    if (ep->port_ < 0) ep->port_ = 0;
  } else if (svr.bind_to_port(hp.host, hp.port)) {
    ep->port_ = hp.port;
  }
  if (ep->port_ == 0) {
    return Status::Unavailable(fmt::format(
        "metrics address '{}': cannot listen (address in use, not local, or not permitted)",
        address));
  }
  ep->host_ = hp.host;
  HttpEndpoint* raw = ep.get();
  ep->thread_ = std::thread([raw] {
    raw->server_->listen_after_bind();
    raw->serving_done_.store(true, std::memory_order_release);
  });
  return ep;
}

HttpEndpoint::~HttpEndpoint() {
  Stop();
}

void HttpEndpoint::Stop() {
  if (!thread_.joinable()) return;
  // httplib's stop() is a no-op until the accept loop has started, so a Stop()
  // right after Start() repeats it until the thread reports it has left the loop.
  while (!serving_done_.load(std::memory_order_acquire)) {
    server_->stop();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  thread_.join();
}

}  // namespace pg2bq::agent
