// SignalWatcher: turns SIGTERM/SIGINT into a graceful-shutdown request and
// SIGHUP into a reload request, without doing any work in a signal handler.
//
// Start() blocks the three signals in the calling thread, which every thread
// created afterwards inherits, and a dedicated thread receives them from a
// signalfd. So call it from main() before starting any other thread: a thread
// created earlier still has them unblocked and would take the default action
// (terminate) if the kernel picked it.
//
//   first SIGTERM/SIGINT  -> shutdown->Cancel() and on_stop(signo): drain and exit 0
//   further SIGTERM/SIGINT-> on_stop(signo) again; with force_exit_code >= 0 the
//                            process exits at once with that code (operator's
//                            "stop now": the spool is crash-safe, so nothing is lost)
//   SIGHUP                -> reload_requests() grows, on_reload() runs
//
// Callbacks run on the watcher thread, so they may log, lock and allocate;
// they must not block for long.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "agent/cancellation.h"
#include "common/status.h"

namespace pg2bq::agent {

struct SignalWatcherOptions {
  std::function<void(int signo)> on_stop;
  std::function<void()> on_reload;
  int force_exit_code = 1;  // on the second stop signal; -1 = never force
};

class SignalWatcher {
 public:
  // `shutdown` is cancelled on the first stop signal; it must outlive the watcher.
  static Result<std::unique_ptr<SignalWatcher>> Start(Cancellation* shutdown,
                                                      SignalWatcherOptions options = {});
  ~SignalWatcher();  // stops and joins the watcher thread; the signals stay blocked
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

  int stop_signals() const { return stop_signals_.load(std::memory_order_acquire); }
  std::uint64_t reload_requests() const;
  // Waits until reload_requests() exceeds `seen`, or `timeout` passes, or the
  // shutdown is requested; returns the current reload_requests().
  std::uint64_t WaitForReload(std::uint64_t seen, std::chrono::milliseconds timeout) const;

 private:
  SignalWatcher(Cancellation* shutdown, SignalWatcherOptions options)
      : shutdown_(shutdown), options_(std::move(options)) {}
  void Run();

  Cancellation* shutdown_;
  SignalWatcherOptions options_;
  int signal_fd_ = -1;
  Cancellation stop_thread_;  // wakes the watcher thread on destruction
  std::thread thread_;
  std::atomic<int> stop_signals_{0};
  mutable std::mutex mu_;
  mutable std::condition_variable reload_cv_;
  std::uint64_t reloads_ = 0;
};

}  // namespace pg2bq::agent
