#include "agent/signals.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "agent/logging.h"

namespace pg2bq::agent {
namespace {

using namespace std::chrono_literals;

// Process-directed, like `kill -TERM <pid>` from an operator or systemd.
void SendToSelf(int signo) {
  ASSERT_EQ(kill(getpid(), signo), 0);
}

bool WaitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout = 5s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

TEST(SignalWatcherTest, SigtermCancelsTheShutdownToken) {
  Cancellation shutdown;
  std::mutex mu;
  std::vector<int> seen;
  SignalWatcherOptions options;
  options.on_stop = [&](int s) {
    std::lock_guard lock(mu);
    seen.push_back(s);
  };
  auto w = SignalWatcher::Start(&shutdown, options);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_FALSE(shutdown.cancelled());
  SendToSelf(SIGTERM);
  // Threads blocked in poll() on the token's fd wake up.
  pollfd p{shutdown.fd(), POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 5000), 1);
  EXPECT_TRUE(shutdown.cancelled());
  EXPECT_EQ((*w)->stop_signals(), 1);  // counted before the token is cancelled
  // The callback runs after the cancellation, on the watcher thread.
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard lock(mu);
    return !seen.empty();
  }));
  std::lock_guard lock(mu);
  EXPECT_EQ(seen, std::vector<int>{SIGTERM});
}

TEST(SignalWatcherTest, SigintAlsoRequestsShutdown) {
  Cancellation shutdown;
  auto w = SignalWatcher::Start(&shutdown);
  ASSERT_TRUE(w.ok());
  SendToSelf(SIGINT);
  ASSERT_TRUE(WaitFor([&] { return shutdown.cancelled(); }));
  EXPECT_EQ((*w)->reload_requests(), 0u);
}

TEST(SignalWatcherTest, SighupRequestsReloadWithoutShutdown) {
  Cancellation shutdown;
  std::atomic<int> reloads{0};
  SignalWatcherOptions options;
  options.on_reload = [&] { ++reloads; };
  auto w = SignalWatcher::Start(&shutdown, options);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ((*w)->WaitForReload(0, 10ms), 0u);  // times out
  SendToSelf(SIGHUP);
  EXPECT_EQ((*w)->WaitForReload(0, 5s), 1u);
  SendToSelf(SIGHUP);
  EXPECT_GE((*w)->WaitForReload(1, 5s), 2u);
  ASSERT_TRUE(WaitFor([&] { return reloads.load() == 2; }));
  EXPECT_FALSE(shutdown.cancelled());
  EXPECT_EQ((*w)->stop_signals(), 0);
}

TEST(SignalWatcherTest, WaitForReloadReturnsOnShutdown) {
  Cancellation shutdown;
  auto w = SignalWatcher::Start(&shutdown);
  ASSERT_TRUE(w.ok());
  std::thread waiter([&] { EXPECT_EQ((*w)->WaitForReload(0, 60s), 0u); });
  std::this_thread::sleep_for(10ms);
  auto start = std::chrono::steady_clock::now();
  SendToSelf(SIGTERM);
  waiter.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 30s);
}

TEST(SignalWatcherTest, RepeatedStopWithoutForceKeepsRunning) {
  Cancellation shutdown;
  SignalWatcherOptions options;
  options.force_exit_code = -1;
  auto w = SignalWatcher::Start(&shutdown, options);
  ASSERT_TRUE(w.ok());
  SendToSelf(SIGTERM);
  ASSERT_TRUE(WaitFor([&] { return (*w)->stop_signals() == 1; }));
  SendToSelf(SIGINT);
  ASSERT_TRUE(WaitFor([&] { return (*w)->stop_signals() == 2; }));
  EXPECT_TRUE(shutdown.cancelled());
}

TEST(SignalWatcherTest, StopsCleanlyWithoutAnySignal) {
  Cancellation shutdown;
  for (int i = 0; i < 10; ++i) {
    auto w = SignalWatcher::Start(&shutdown);
    ASSERT_TRUE(w.ok());
  }
  EXPECT_FALSE(shutdown.cancelled());
}

void StartWatcherAndSendTwoStops() {
  InstallLogging(LogFormat::kText, spdlog::level::info);  // stderr, where EXPECT_EXIT looks
  Cancellation shutdown;
  SignalWatcherOptions options;
  options.force_exit_code = 3;
  auto w = SignalWatcher::Start(&shutdown, options);
  if (!w.ok()) std::_Exit(100);
  kill(getpid(), SIGTERM);
  // A graceful shutdown that hangs: the operator insists.
  for (int i = 0; i < 5000 && !shutdown.cancelled(); ++i)
    usleep(1000);
  kill(getpid(), SIGTERM);
  sleep(10);
  std::_Exit(101);  // not reached when the second signal forces the exit
}

TEST(SignalWatcherDeathTest, SecondStopSignalForcesExit) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(StartWatcherAndSendTwoStops(), ::testing::ExitedWithCode(3), "again: exiting now");
}

}  // namespace
}  // namespace pg2bq::agent
