#include "common/bounded_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

namespace pg2bq {
namespace {

using namespace std::chrono_literals;

TEST(BoundedQueueTest, FifoOrderAndSize) {
  BoundedQueue<int> q(3);
  EXPECT_EQ(q.capacity(), 3u);
  EXPECT_EQ(q.TryPush(1), QueueResult::kOk);
  EXPECT_EQ(q.TryPush(2), QueueResult::kOk);
  EXPECT_EQ(q.TryPush(3), QueueResult::kOk);
  EXPECT_EQ(q.size(), 3u);
  EXPECT_EQ(q.TryPush(4), QueueResult::kTimeout);  // full
  int v = 0;
  ASSERT_EQ(q.TryPop(&v), QueueResult::kOk);
  EXPECT_EQ(v, 1);
  EXPECT_EQ(q.TryPush(4), QueueResult::kOk);  // wraps around the ring
  for (int want : {2, 3, 4}) {
    ASSERT_EQ(q.TryPop(&v), QueueResult::kOk);
    EXPECT_EQ(v, want);
  }
  EXPECT_EQ(q.TryPop(&v), QueueResult::kTimeout);  // empty
  EXPECT_EQ(q.size(), 0u);
  EXPECT_EQ(q.high_water_mark(), 3u);
}

TEST(BoundedQueueTest, ZeroCapacityMeansOne) {
  BoundedQueue<int> q(0);
  EXPECT_EQ(q.capacity(), 1u);
  EXPECT_EQ(q.TryPush(1), QueueResult::kOk);
  EXPECT_EQ(q.TryPush(2), QueueResult::kTimeout);
}

TEST(BoundedQueueTest, PushForTimesOutWhenFullAndKeepsTheValue) {
  BoundedQueue<std::unique_ptr<int>> q(1);
  ASSERT_EQ(q.Push(std::make_unique<int>(1)), QueueResult::kOk);
  auto second = std::make_unique<int>(2);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(q.PushFor(std::move(second), 20ms), QueueResult::kTimeout);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 20ms);
  ASSERT_NE(second, nullptr) << "a failed push must not consume the value";
  EXPECT_EQ(*second, 2);
}

TEST(BoundedQueueTest, PopForTimesOutWhenEmpty) {
  BoundedQueue<int> q(2);
  int v = -1;
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(q.PopFor(&v, 20ms), QueueResult::kTimeout);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 20ms);
  EXPECT_EQ(v, -1);
}

TEST(BoundedQueueTest, CloseRejectsPushesButDrainsQueuedItems) {
  BoundedQueue<std::string> q(4);
  ASSERT_EQ(q.Push("a"), QueueResult::kOk);
  ASSERT_EQ(q.Push("b"), QueueResult::kOk);
  q.Close();
  q.Close();  // idempotent
  EXPECT_TRUE(q.closed());
  std::string rejected = "c";
  EXPECT_EQ(q.Push(std::move(rejected)), QueueResult::kClosed);
  EXPECT_EQ(rejected, "c");
  std::string v;
  ASSERT_EQ(q.Pop(&v), QueueResult::kOk);
  EXPECT_EQ(v, "a");
  ASSERT_EQ(q.PopFor(&v, 1s), QueueResult::kOk);
  EXPECT_EQ(v, "b");
  EXPECT_EQ(q.Pop(&v), QueueResult::kClosed);  // does not block once drained
  EXPECT_EQ(q.PopFor(&v, 1s), QueueResult::kClosed);
}

TEST(BoundedQueueTest, CloseWakesBlockedConsumer) {
  BoundedQueue<int> q(1);
  std::atomic<int> result{-1};
  std::thread consumer([&] {
    int v;
    result = static_cast<int>(q.Pop(&v));
  });
  std::this_thread::sleep_for(10ms);
  q.Close();
  consumer.join();
  EXPECT_EQ(result.load(), static_cast<int>(QueueResult::kClosed));
}

TEST(BoundedQueueTest, CloseWakesBlockedProducer) {
  BoundedQueue<int> q(1);
  ASSERT_EQ(q.Push(1), QueueResult::kOk);
  std::atomic<int> result{-1};
  std::thread producer([&] { result = static_cast<int>(q.Push(2)); });
  std::this_thread::sleep_for(10ms);
  q.Close();
  producer.join();
  EXPECT_EQ(result.load(), static_cast<int>(QueueResult::kClosed));
  EXPECT_EQ(q.size(), 1u);
}

TEST(BoundedQueueTest, BlockedProducerProceedsWhenConsumerPops) {
  BoundedQueue<int> q(1);
  ASSERT_EQ(q.Push(1), QueueResult::kOk);
  std::thread producer([&] { EXPECT_EQ(q.Push(2), QueueResult::kOk); });
  int v = 0;
  ASSERT_EQ(q.PopFor(&v, 5s), QueueResult::kOk);
  EXPECT_EQ(v, 1);
  ASSERT_EQ(q.PopFor(&v, 5s), QueueResult::kOk);
  EXPECT_EQ(v, 2);
  producer.join();
}

// Several producers and consumers through a small queue: every item arrives
// exactly once, per-producer order is kept, and the queue never exceeds its
// capacity. Small sizes keep it quick under sanitizers.
TEST(BoundedQueueTest, ConcurrentProducersAndConsumersLoseNothing) {
  constexpr int kProducers = 4;
  constexpr int kConsumers = 3;
  constexpr int kPerProducer = 5000;
  BoundedQueue<std::pair<int, int>> q(8);  // (producer, sequence)

  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < kPerProducer; ++i) {
        // Alternate the blocking and the timed push paths.
        if (i % 2 == 0) {
          ASSERT_EQ(q.Push({p, i}), QueueResult::kOk);
        } else {
          std::pair<int, int> item{p, i};
          while (q.PushFor(std::move(item), 1ms) == QueueResult::kTimeout) {
          }
        }
      }
    });
  }
  std::vector<std::vector<std::vector<int>>> seen(kConsumers,
                                                  std::vector<std::vector<int>>(kProducers));
  std::vector<std::thread> consumers;
  for (int c = 0; c < kConsumers; ++c) {
    consumers.emplace_back([&, c] {
      std::pair<int, int> item;
      for (;;) {
        QueueResult r = (c % 2 == 0) ? q.Pop(&item) : q.PopFor(&item, 1ms);
        if (r == QueueResult::kTimeout) continue;
        if (r == QueueResult::kClosed) return;
        seen[c][item.first].push_back(item.second);
      }
    });
  }
  for (auto& t : producers)
    t.join();
  q.Close();
  for (auto& t : consumers)
    t.join();

  EXPECT_LE(q.high_water_mark(), q.capacity());
  for (int p = 0; p < kProducers; ++p) {
    std::vector<int> all;
    for (int c = 0; c < kConsumers; ++c) {
      // A single consumer sees one producer's items in the order they were pushed.
      EXPECT_TRUE(std::is_sorted(seen[c][p].begin(), seen[c][p].end()));
      all.insert(all.end(), seen[c][p].begin(), seen[c][p].end());
    }
    std::sort(all.begin(), all.end());
    std::vector<int> want(kPerProducer);
    std::iota(want.begin(), want.end(), 0);
    EXPECT_EQ(all, want) << "producer " << p;
  }
}

// Close() racing with producers and consumers: no deadlock, and every item a
// push reported as accepted is popped exactly once.
TEST(BoundedQueueTest, CloseDuringTrafficAccountsForEveryAcceptedItem) {
  for (int round = 0; round < 20; ++round) {
    BoundedQueue<int> q(4);
    std::atomic<long> accepted{0};
    std::atomic<long> popped{0};
    std::vector<std::thread> threads;
    for (int p = 0; p < 3; ++p) {
      threads.emplace_back([&] {
        for (int i = 1;; ++i) {
          if (q.Push(int{i}) != QueueResult::kOk) return;
          accepted += i;
        }
      });
    }
    for (int c = 0; c < 2; ++c) {
      threads.emplace_back([&] {
        int v;
        while (q.Pop(&v) == QueueResult::kOk)
          popped += v;
      });
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200 * round));
    q.Close();
    for (auto& t : threads)
      t.join();
    EXPECT_EQ(accepted.load(), popped.load()) << "round " << round;
  }
}

}  // namespace
}  // namespace pg2bq
