// Cancellation: lets one thread (or a signal handler) interrupt another thread's blocking
// waits at once. Waits on sockets poll fd() next to the socket (the replication stream, the
// snapshot copy), so Cancel() ends a connect, a query or a read immediately; backoff sleeps
// use SleepFor. Owned by whoever owns the threads; passed by reference.
#pragma once

#include <atomic>
#include <chrono>

namespace pg2bq {

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

  // Sleeps up to `d`; false when cancelled (before or during the sleep).
  template <typename Rep, typename Period>
  bool SleepFor(std::chrono::duration<Rep, Period> d) const {
    return SleepForMicros(std::chrono::ceil<std::chrono::microseconds>(d).count());
  }

 private:
  bool SleepForMicros(long long micros) const;

  std::atomic<bool> cancelled_{false};
  int fd_ = -1;
};

}  // namespace pg2bq
