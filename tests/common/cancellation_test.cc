#include "common/cancellation.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <chrono>
#include <thread>

namespace pg2bq {
namespace {

using namespace std::chrono_literals;

TEST(CancellationTest, SleepRunsItsCourseUntilCancelled) {
  Cancellation c;
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(c.SleepFor(20ms));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 20ms);
  pollfd pfd{c.fd(), POLLIN, 0};
  EXPECT_EQ(poll(&pfd, 1, 0), 0);  // not readable before Cancel
}

TEST(CancellationTest, CancelEndsASleepInAnotherThreadAndStaysSet) {
  Cancellation c;
  std::thread canceller([&] {
    std::this_thread::sleep_for(50ms);
    c.Cancel();
  });
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(c.SleepFor(60s));  // a failure here would hang for a minute, not pass
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 30s);
  canceller.join();
  EXPECT_TRUE(c.cancelled());
  EXPECT_FALSE(c.SleepFor(1h));  // already cancelled: returns at once
  c.Cancel();                    // idempotent
  pollfd pfd{c.fd(), POLLIN, 0};
  EXPECT_EQ(poll(&pfd, 1, 0), 1);  // readable for poll() users, and stays so
  EXPECT_EQ(poll(&pfd, 1, 0), 1);
}

}  // namespace
}  // namespace pg2bq
