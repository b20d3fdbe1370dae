// How a writer tells readers in the same process how far they may read: the end of
// the records it has made durable (fsynced; with fsync=off, written to the OS).
// Readers never see records beyond it, so a sink can never acknowledge data a
// crash could still take back.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "spool/position.h"

namespace pg2bq::spool {

class SpoolTail {
 public:
  // Moves the visible end forward (never back).
  void Publish(Position end);
  Position end() const;
  // Returns once end() > pos, Close() was called, or `timeout` passed; returns end().
  Position WaitBeyond(Position pos, std::chrono::milliseconds timeout) const;
  void Close();
  bool closed() const;

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  Position end_;
  bool closed_ = false;
};

}  // namespace pg2bq::spool
