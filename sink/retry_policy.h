// Which Storage Write API failures are retried, and how long to wait: jittered exponential
// backoff with a cap, per gRPC status code (docs/SINK.md, "Retries").
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace pg2bq::sink {

struct BackoffParams {
  std::chrono::milliseconds initial{100};
  // Short on purpose: an outage ends unannounced, and every second spent sleeping after it
  // is a second of catch-up lost (a probe every 1-2 s per stream costs BigQuery nothing).
  std::chrono::milliseconds cap{2000};
  double multiplier = 2.0;
};

struct RetryPolicy {
  BackoffParams transient;  // UNAVAILABLE, INTERNAL, ABORTED, DEADLINE_EXCEEDED
  BackoffParams resource_exhausted{std::chrono::milliseconds(1000),
                                   std::chrono::milliseconds(60000),
                                   2.0};  // quota: back off harder
  // 0 = retry until cancelled (nothing is ever given up silently); otherwise the call fails
  // with the last error after this many attempts of one request.
  int max_attempts = 0;
};

// gRPC codes (grpc::StatusCode values) the sink retries: UNAVAILABLE, RESOURCE_EXHAUSTED,
// INTERNAL, ABORTED, DEADLINE_EXCEEDED. CANCELLED is retried only when the sink cancelled the
// call itself (its response watchdog), which the caller decides.
bool IsRetryableCode(int grpc_code);

// Delay before attempt `attempt` (1 = first retry): min(cap, initial * multiplier^(attempt-1)),
// "equal jitter": uniformly in [d/2, d].
std::chrono::milliseconds BackoffDelay(const RetryPolicy& policy, int grpc_code, int attempt,
                                       std::mt19937_64& rng);

}  // namespace pg2bq::sink
