#include "common/cancellation.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace pg2bq {

Cancellation::Cancellation() : fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

Cancellation::~Cancellation() {
  if (fd_ >= 0) close(fd_);
}

void Cancellation::Cancel() {
  cancelled_.store(true, std::memory_order_release);
  std::uint64_t one = 1;
  // The counter is never read, so it stays readable; a full counter is still readable.
  if (fd_ >= 0) (void)!write(fd_, &one, sizeof(one));
}

bool Cancellation::SleepForMicros(long long micros) const {
  const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(micros);
  while (!cancelled()) {
    const auto left = std::chrono::duration_cast<std::chrono::microseconds>(
                          until - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) return true;
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(left / 1000000);
    ts.tv_nsec = static_cast<long>((left % 1000000) * 1000);
    pollfd pfd{};
    pfd.fd = fd_;
    pfd.events = POLLIN;
    // Without an eventfd (out of descriptors) this still sleeps, checking the flag after.
    if (ppoll(&pfd, fd_ >= 0 ? 1 : 0, &ts, nullptr) < 0 && errno != EINTR) return !cancelled();
  }
  return false;
}

}  // namespace pg2bq
