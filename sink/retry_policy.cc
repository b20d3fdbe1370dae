#include "sink/retry_policy.h"

#include <algorithm>
#include <cmath>

namespace pg2bq::sink {
namespace {
// grpc::StatusCode values, spelled out so this file does not need gRPC headers.
constexpr int kDeadlineExceeded = 4, kResourceExhausted = 8, kAborted = 10, kInternal = 13,
              kUnavailable = 14;
}  // namespace

bool IsRetryableCode(int grpc_code) {
  return grpc_code == kUnavailable || grpc_code == kResourceExhausted || grpc_code == kInternal ||
         grpc_code == kAborted || grpc_code == kDeadlineExceeded;
}

std::chrono::milliseconds BackoffDelay(const RetryPolicy& policy, int grpc_code, int attempt,
                                       std::mt19937_64& rng) {
  const BackoffParams& p =
      grpc_code == kResourceExhausted ? policy.resource_exhausted : policy.transient;
  const double base =
      static_cast<double>(p.initial.count()) * std::pow(p.multiplier, std::max(0, attempt - 1));
  const double capped = std::min(base, static_cast<double>(p.cap.count()));
  std::uniform_real_distribution<double> jitter(capped / 2, capped);
  return std::chrono::milliseconds(static_cast<std::int64_t>(jitter(rng)));
}

}  // namespace pg2bq::sink
