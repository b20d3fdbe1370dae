#include "spool/tail.h"

namespace pg2bq::spool {

void SpoolTail::Publish(Position end) {
  {
    std::lock_guard lk(mu_);
    if (end <= end_) return;
    end_ = end;
  }
  cv_.notify_all();
}

Position SpoolTail::end() const {
  std::lock_guard lk(mu_);
  return end_;
}

Position SpoolTail::WaitBeyond(Position pos, std::chrono::milliseconds timeout) const {
  std::unique_lock lk(mu_);
  cv_.wait_for(lk, timeout, [&] { return end_ > pos || closed_; });
  return end_;
}

void SpoolTail::Close() {
  {
    std::lock_guard lk(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

bool SpoolTail::closed() const {
  std::lock_guard lk(mu_);
  return closed_;
}

}  // namespace pg2bq::spool
