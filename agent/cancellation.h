// Cancellation: lets one thread (or a signal handler) interrupt another thread's
// blocking waits at once. Every wait in the replication stream polls this object's
// fd next to its socket, so Cancel() ends a connect, a query or a read immediately.
#pragma once

#include <atomic>

namespace pg2bq::agent {

class Cancellation {
 public:
  Cancellation();
  ~Cancellation();
  Cancellation(const Cancellation&) = delete;
  Cancellation& operator=(const Cancellation&) = delete;

  // Async-signal-safe: sets the flag and makes fd() readable. Idempotent.
  void Cancel();
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }
  // Becomes readable (and stays so) once Cancel() was called; for poll().
  int fd() const { return fd_; }

 private:
  std::atomic<bool> cancelled_{false};
  int fd_ = -1;
};

}  // namespace pg2bq::agent
