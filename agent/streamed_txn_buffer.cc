#include "agent/streamed_txn_buffer.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace pg2bq::agent {
namespace {

std::string TempDir() {
  const char* t = std::getenv("TMPDIR");
  return t && *t ? t : "/tmp";
}

}  // namespace

Status StreamedTransactionBuffer::Add(Xid xid, Xid subxid, Lsn lsn, std::string_view line) {
  Txn& t = txns_[xid];
  if (t.file == nullptr) {
    std::string path = TempDir() + "/pg2bq-streamed-XXXXXX";
    int fd = mkstemp(path.data());
    if (fd < 0) {
      return Status::IoError("cannot create a temp file in " + TempDir() +
                             " for streamed transaction " + std::to_string(xid) + ": " +
                             std::strerror(errno));
    }
    unlink(path.c_str());  // gone with the process, whatever happens
    t.file = fdopen(fd, "w+b");
    if (t.file == nullptr) {
      close(fd);
      return Status::IoError(std::string("fdopen: ") + std::strerror(errno));
    }
  }
  if (std::fwrite(line.data(), 1, line.size(), t.file) != line.size()) {
    return Status::IoError("writing streamed transaction " + std::to_string(xid) + " to " +
                           TempDir() + ": " + std::strerror(errno));
  }
  t.entries.push_back({subxid, lsn, t.size, static_cast<std::uint32_t>(line.size())});
  t.size += line.size();
  return Status::Ok();
}

Status StreamedTransactionBuffer::Commit(Xid xid,
                                         const std::function<void(Lsn, std::string_view)>& emit) {
  auto it = txns_.find(xid);
  if (it == txns_.end()) return Status::Ok();
  Txn& t = it->second;
  Status status;
  if (std::fflush(t.file) != 0) {
    status = Status::IoError("flushing streamed transaction " + std::to_string(xid) + ": " +
                             std::strerror(errno));
  }
  const int fd = fileno(t.file);
  for (const Entry& e : t.entries) {
    if (!status.ok()) break;
    scratch_.resize(e.length);
    ssize_t n = pread(fd, scratch_.data(), e.length, static_cast<off_t>(e.offset));
    if (n != static_cast<ssize_t>(e.length)) {
      status = Status::IoError("reading back streamed transaction " + std::to_string(xid) + ": " +
                               (n < 0 ? std::strerror(errno) : "short read"));
      break;
    }
    emit(e.lsn, scratch_);
  }
  std::fclose(t.file);
  txns_.erase(it);
  return status;
}

void StreamedTransactionBuffer::Abort(Xid xid, Xid subxid) {
  auto it = txns_.find(xid);
  if (it == txns_.end()) return;
  if (subxid == xid) {
    std::fclose(it->second.file);
    txns_.erase(it);
    return;
  }
  std::erase_if(it->second.entries, [&](const Entry& e) { return e.subxid == subxid; });
}

void StreamedTransactionBuffer::Clear() {
  for (auto& [xid, t] : txns_) {
    if (t.file) std::fclose(t.file);
  }
  txns_.clear();
}

}  // namespace pg2bq::agent
