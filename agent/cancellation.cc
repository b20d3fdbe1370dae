#include "agent/cancellation.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

namespace pg2bq::agent {

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

}  // namespace pg2bq::agent
