// Reads frames one after another from an open segment (or spill) file, through a
// buffer, never past a limit. Used by SpoolReader, the recovery scan, the spill
// copy at commit and `pg2bq spool inspect|verify`.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"
#include "spool/file_util.h"
#include "spool/format.h"

namespace pg2bq::spool {

class FrameFileReader {
 public:
  // Reads file `fd` (not owned; `path` names it in messages) from `offset` up to
  // `limit` (exclusive; may be raised later with set_limit).
  FrameFileReader(int fd, std::string path, std::uint64_t offset, std::uint64_t limit);

  // Parses the frame at offset(). On kOk, *frame points into an internal buffer
  // valid until the next call, and offset() moves past it. On any other status
  // offset() stays at the frame's start. kZeroFilled means every byte up to the
  // limit is zero; a zero header followed by data is reported as kBadChecksum.
  Result<FrameStatus> Next(FrameView* frame);

  // After kBadChecksum on the last frame before the limit: true when the bytes from
  // some 512-byte-aligned file offset inside the frame up to the limit are all zero,
  // the signature of a write torn by a crash (sectors that never reached the disk).
  Result<bool> FrameEndsInZeroSectors();

  std::uint64_t offset() const { return offset_; }
  std::uint64_t limit() const { return limit_; }
  void set_limit(std::uint64_t limit) { limit_ = limit; }
  // Byte size of the frame whose header is at offset(), when it can be read (0 if not).
  std::uint64_t PeekFrameSize();

 private:
  // Makes [off, off + n) available in buf_ (fewer bytes only at the limit).
  Status Fill(std::uint64_t off, std::size_t n);
  std::string_view Buffered(std::uint64_t off, std::size_t n) const;
  Result<bool> RestIsZero(std::uint64_t from);

  int fd_;
  std::string path_;
  std::uint64_t offset_;
  std::uint64_t limit_;
  std::string buf_;
  std::uint64_t buf_start_ = 0;
};

}  // namespace pg2bq::spool
