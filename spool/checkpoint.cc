#include "spool/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/crc32c.h"
#include "spool/file_util.h"
#include "spool/format.h"

namespace pg2bq::spool {
namespace {
constexpr char kMagic[8] = {'P', 'G', '2', 'B', 'Q', 'C', 'K', 'P'};
constexpr std::size_t kSize = 48;
}  // namespace

Status WriteCheckpoint(const std::string& dir, const Checkpoint& cp) {
  std::string bytes(kMagic, sizeof(kMagic));
  PutFixed32(&bytes, kFormatVersion);
  PutFixed32(&bytes, 0);
  PutFixed64(&bytes, cp.position.segment);
  PutFixed64(&bytes, cp.position.offset);
  PutFixed64(&bytes, cp.acked_lsn);
  PutFixed32(&bytes, crc32c::Mask(crc32c::Value(bytes.data(), bytes.size())));
  PutFixed32(&bytes, 0);
  const std::string tmp = JoinPath(dir, std::string(kCheckpointFileName) + ".tmp");
  const std::string final_path = JoinPath(dir, kCheckpointFileName);
  {
    PG2BQ_ASSIGN_OR_RETURN(ScopedFd fd, OpenFile(tmp, O_WRONLY | O_CREAT | O_TRUNC));
    PG2BQ_RETURN_IF_ERROR(WriteAll(fd.get(), bytes, tmp));
    PG2BQ_RETURN_IF_ERROR(SyncFd(fd.get(), tmp));
  }
  if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
    return Status::IoError("rename " + tmp + " -> " + final_path + ": " + std::strerror(errno));
  }
  return SyncDir(dir);
}

Result<std::optional<Checkpoint>> ReadCheckpoint(const std::string& dir) {
  const std::string path = JoinPath(dir, kCheckpointFileName);
  int raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (raw < 0) {
    if (errno == ENOENT) return std::optional<Checkpoint>();
    return Status::IoError("cannot open " + path + ": " + std::strerror(errno));
  }
  ScopedFd fd(raw);
  std::string bytes;
  PG2BQ_RETURN_IF_ERROR(PreadAll(fd.get(), 0, kSize + 1, &bytes, path));
  if (bytes.size() != kSize || std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0 ||
      crc32c::Unmask(DecodeFixed32(bytes.data() + 40)) != crc32c::Value(bytes.data(), 40)) {
    return Status::Corruption(path + ": checkpoint file is damaged (size " +
                              std::to_string(bytes.size()) + ", bad magic or checksum)");
  }
  if (DecodeFixed32(bytes.data() + 8) != kFormatVersion) {
    return Status::Corruption(path + ": unsupported checkpoint format version");
  }
  Checkpoint cp;
  cp.position.segment = DecodeFixed64(bytes.data() + 16);
  cp.position.offset = DecodeFixed64(bytes.data() + 24);
  cp.acked_lsn = DecodeFixed64(bytes.data() + 32);
  return std::optional<Checkpoint>(cp);
}

}  // namespace pg2bq::spool
