#include "agent/signals.h"

#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace pg2bq::agent {
namespace {

// strsignal() is not thread-safe, and these are the only ones we receive.
const char* SignalName(int signo) {
  switch (signo) {
    case SIGTERM:
      return "SIGTERM";
    case SIGINT:
      return "SIGINT";
    case SIGHUP:
      return "SIGHUP";
  }
  return "signal";
}

}  // namespace

Result<std::unique_ptr<SignalWatcher>> SignalWatcher::Start(Cancellation* shutdown,
                                                            SignalWatcherOptions options) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  if (int rc = pthread_sigmask(SIG_BLOCK, &set, nullptr); rc != 0) {
    return Status::Internal(fmt::format("pthread_sigmask: {}", std::strerror(rc)));
  }
  int fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (fd < 0) return Status::Internal(fmt::format("signalfd: {}", std::strerror(errno)));
  std::unique_ptr<SignalWatcher> w(new SignalWatcher(shutdown, std::move(options)));
  w->signal_fd_ = fd;
  w->thread_ = std::thread([raw = w.get()] { raw->Run(); });
  return w;
}

SignalWatcher::~SignalWatcher() {
  stop_thread_.Cancel();
  if (thread_.joinable()) thread_.join();
  if (signal_fd_ >= 0) close(signal_fd_);
  reload_cv_.notify_all();
}

std::uint64_t SignalWatcher::reload_requests() const {
  std::lock_guard lock(mu_);
  return reloads_;
}

std::uint64_t SignalWatcher::WaitForReload(std::uint64_t seen,
                                           std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  reload_cv_.wait_for(lock, timeout, [&] { return reloads_ > seen || shutdown_->cancelled(); });
  return reloads_;
}

void SignalWatcher::Run() {
  pollfd fds[2] = {{signal_fd_, POLLIN, 0}, {stop_thread_.fd(), POLLIN, 0}};
  while (!stop_thread_.cancelled()) {
    int n = poll(fds, 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      spdlog::error("signal watcher: poll: {}", std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    signalfd_siginfo info;
    while (read(signal_fd_, &info, sizeof(info)) == static_cast<ssize_t>(sizeof(info))) {
      int signo = static_cast<int>(info.ssi_signo);
      if (signo == SIGHUP) {
        spdlog::info("SIGHUP received: reloading configuration");
        {
          std::lock_guard lock(mu_);
          ++reloads_;
        }
        reload_cv_.notify_all();
        if (options_.on_reload) options_.on_reload();
        continue;
      }
      int count = stop_signals_.fetch_add(1, std::memory_order_acq_rel) + 1;
      if (count == 1) {
        spdlog::info(
            "{} received (from pid {}): shutting down gracefully; send it again to stop "
            "at once",
            SignalName(signo), info.ssi_pid);
        shutdown_->Cancel();
        { std::lock_guard lock(mu_); }  // a WaitForReload between its check and its wait
        reload_cv_.notify_all();
      }
      if (options_.on_stop) options_.on_stop(signo);
      if (count > 1 && options_.force_exit_code >= 0) {
        spdlog::warn("{} received again: exiting now with code {}", SignalName(signo),
                     options_.force_exit_code);
        spdlog::default_logger()->flush();
        std::_Exit(options_.force_exit_code);
      }
    }
  }
}

}  // namespace pg2bq::agent
