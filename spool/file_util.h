// Small POSIX file helpers of the spool: names, durable writes, directory sync.
// Every failure names the path and the errno text.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace pg2bq::spool {

// "0000000000000007.seg"
std::string SegmentFileName(std::uint64_t sequence);
std::optional<std::uint64_t> ParseSegmentFileName(std::string_view name);
std::string JoinPath(std::string_view dir, std::string_view name);

// Sorted sequence numbers of the *.seg files directly in `dir`.
Result<std::vector<std::uint64_t>> ListSegments(const std::string& dir);

// Creates `dir` with mode 0700 if missing; tightens an existing one to 0700.
Status EnsurePrivateDir(const std::string& dir);

Status WriteAll(int fd, std::string_view data, const std::string& path);
Status PreadAll(int fd, std::uint64_t offset, std::size_t n, std::string* out,
                const std::string& path);
Status SyncFd(int fd, const std::string& path);  // fdatasync
Status SyncDir(const std::string& dir);
Result<std::uint64_t> FileSize(int fd, const std::string& path);

// Replaces a small file atomically (write `path`.tmp, fsync, rename, fsync the directory),
// so a crash leaves either the old or the new content. Mode 0600.
Status WriteFileAtomically(const std::string& path, std::string_view content);
// NotFound when the file does not exist.
Result<std::string> ReadWholeFile(const std::string& path);

// Owns a file descriptor.
class ScopedFd {
 public:
  ScopedFd() = default;
  explicit ScopedFd(int fd) : fd_(fd) {}
  ~ScopedFd();
  ScopedFd(ScopedFd&& other) noexcept : fd_(other.release()) {}
  ScopedFd& operator=(ScopedFd&& other) noexcept;
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }

 private:
  int fd_ = -1;
};

Result<ScopedFd> OpenFile(const std::string& path, int flags);  // mode 0600 when creating

}  // namespace pg2bq::spool
