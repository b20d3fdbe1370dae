// A shutdown signal that blocking sink calls (backoff sleeps, stream reads via the watchdog)
// observe. Owned by whoever owns the threads; passed by reference.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace pg2bq::sink {

class Cancellation {
 public:
  void Cancel() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      cancelled_.store(true);
    }
    cv_.notify_all();
  }
  bool cancelled() const { return cancelled_.load(); }
  // Sleeps up to `d`; false when cancelled (before or during the sleep).
  template <typename Rep, typename Period>
  bool SleepFor(std::chrono::duration<Rep, Period> d) {
    std::unique_lock<std::mutex> lock(mu_);
    return !cv_.wait_for(lock, d, [&] { return cancelled_.load(); });
  }

 private:
  std::atomic<bool> cancelled_{false};
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace pg2bq::sink
