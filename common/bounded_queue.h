// BoundedQueue<T>: a fixed-capacity blocking queue between threads (any number of
// producers and consumers).
//
// The agent's threads (reader -> encoder/spooler -> flushers) talk only through
// these queues; the capacity is what turns a slow consumer into back pressure on
// its producer instead of unbounded memory. Every blocking call has a timeout
// variant, and Close() wakes every waiter, so shutdown never hangs on a queue:
//   - after Close(), pushes fail with kClosed and nothing is enqueued;
//   - pops keep returning the items already queued, then kClosed.
// So a producer closes to say "no more", and the owner closes to cancel; either
// way consumers drain what was accepted, which is what "lose nothing" needs.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

namespace pg2bq {

enum class QueueResult {
  kOk,
  kTimeout,  // the deadline passed; nothing was pushed / popped
  kClosed,   // push: the queue is closed. pop: closed and empty
};

template <typename T>
class BoundedQueue {
 public:
  // capacity 0 is treated as 1: a queue that can hold nothing would deadlock.
  explicit BoundedQueue(std::size_t capacity) : slots_(std::max<std::size_t>(capacity, 1)) {}
  BoundedQueue(const BoundedQueue&) = delete;
  BoundedQueue& operator=(const BoundedQueue&) = delete;

  // Blocks until there is room or the queue is closed. `value` is moved from only
  // on kOk, so a caller can retry or hand it elsewhere on kClosed.
  QueueResult Push(T&& value) {
    std::unique_lock lock(mu_);
    not_full_.wait(lock, [&] { return closed_ || count_ < slots_.size(); });
    return PushLocked(std::move(value), lock);
  }

  template <typename Rep, typename Period>
  QueueResult PushFor(T&& value, std::chrono::duration<Rep, Period> timeout) {
    std::unique_lock lock(mu_);
    if (!not_full_.wait_for(lock, timeout, [&] { return closed_ || count_ < slots_.size(); })) {
      return QueueResult::kTimeout;
    }
    return PushLocked(std::move(value), lock);
  }

  // Never blocks: kTimeout means "full right now".
  QueueResult TryPush(T&& value) { return PushFor(std::move(value), std::chrono::seconds(0)); }

  // Blocks until an item is available (kOk, stored in *out) or the queue is closed
  // and drained (kClosed).
  QueueResult Pop(T* out) {
    std::unique_lock lock(mu_);
    not_empty_.wait(lock, [&] { return closed_ || count_ > 0; });
    return PopLocked(out, lock);
  }

  template <typename Rep, typename Period>
  QueueResult PopFor(T* out, std::chrono::duration<Rep, Period> timeout) {
    std::unique_lock lock(mu_);
    if (!not_empty_.wait_for(lock, timeout, [&] { return closed_ || count_ > 0; })) {
      return QueueResult::kTimeout;
    }
    return PopLocked(out, lock);
  }

  QueueResult TryPop(T* out) { return PopFor(out, std::chrono::seconds(0)); }

  // Idempotent. Wakes every blocked producer and consumer.
  void Close() {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
    }
    not_full_.notify_all();
    not_empty_.notify_all();
  }

  bool closed() const {
    std::lock_guard lock(mu_);
    return closed_;
  }
  std::size_t size() const {
    std::lock_guard lock(mu_);
    return count_;
  }
  std::size_t capacity() const { return slots_.size(); }
  // The largest size() ever reached: shows whether a capacity is ever the limit.
  std::size_t high_water_mark() const {
    std::lock_guard lock(mu_);
    return high_water_;
  }

 private:
  QueueResult PushLocked(T&& value, std::unique_lock<std::mutex>& lock) {
    if (closed_) return QueueResult::kClosed;
    slots_[(head_ + count_) % slots_.size()].emplace(std::move(value));
    ++count_;
    high_water_ = std::max(high_water_, count_);
    lock.unlock();
    not_empty_.notify_one();
    return QueueResult::kOk;
  }

  QueueResult PopLocked(T* out, std::unique_lock<std::mutex>& lock) {
    if (count_ == 0) return QueueResult::kClosed;  // woken by Close() with nothing left
    std::optional<T>& slot = slots_[head_];
    *out = std::move(*slot);
    slot.reset();
    head_ = (head_ + 1) % slots_.size();
    --count_;
    lock.unlock();
    not_full_.notify_one();
    return QueueResult::kOk;
  }

  mutable std::mutex mu_;
  std::condition_variable not_full_;
  std::condition_variable not_empty_;
  std::vector<std::optional<T>> slots_;  // ring buffer; allocated once
  std::size_t head_ = 0;
  std::size_t count_ = 0;
  std::size_t high_water_ = 0;
  bool closed_ = false;
};

}  // namespace pg2bq
