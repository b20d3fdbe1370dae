#include "spool/frame_file_reader.h"

#include <algorithm>

namespace pg2bq::spool {
namespace {
constexpr std::size_t kReadChunk = 1 << 20;
constexpr std::uint64_t kSector = 512;
}  // namespace

FrameFileReader::FrameFileReader(int fd, std::string path, std::uint64_t offset,
                                 std::uint64_t limit)
    : fd_(fd), path_(std::move(path)), offset_(offset), limit_(limit), buf_start_(offset) {}

Status FrameFileReader::Fill(std::uint64_t off, std::size_t n) {
  if (off + n > limit_) n = off < limit_ ? static_cast<std::size_t>(limit_ - off) : 0;
  const std::uint64_t buf_end = buf_start_ + buf_.size();
  if (off >= buf_start_ && off + n <= buf_end) return Status::Ok();
  if (off < buf_start_ || off > buf_end) {
    buf_.clear();
    buf_start_ = off;
  } else if (off > buf_start_) {
    buf_.erase(0, static_cast<std::size_t>(off - buf_start_));
    buf_start_ = off;
  }
  const std::uint64_t have_end = buf_start_ + buf_.size();
  std::size_t want = static_cast<std::size_t>(off + n - have_end);
  want = std::max(want, kReadChunk);
  want = static_cast<std::size_t>(std::min<std::uint64_t>(want, limit_ - have_end));
  return PreadAll(fd_, have_end, want, &buf_, path_);
}

std::string_view FrameFileReader::Buffered(std::uint64_t off, std::size_t n) const {
  std::string_view all(buf_);
  if (off < buf_start_ || off - buf_start_ > all.size()) return {};
  return all.substr(static_cast<std::size_t>(off - buf_start_), n);
}

std::uint64_t FrameFileReader::PeekFrameSize() {
  if (!Fill(offset_, kFrameHeaderSize).ok()) return 0;
  std::string_view h = Buffered(offset_, kFrameHeaderSize);
  if (h.size() < kFrameHeaderSize) return 0;
  return kFrameHeaderSize + DecodeFixed32(h.data() + 4);
}

Result<bool> FrameFileReader::RestIsZero(std::uint64_t from) {
  for (std::uint64_t off = from; off < limit_;) {
    PG2BQ_RETURN_IF_ERROR(Fill(off, kReadChunk));
    std::string_view chunk = Buffered(off, kReadChunk);
    if (chunk.empty()) return Status::IoError(path_ + ": file shorter than expected");
    if (std::any_of(chunk.begin(), chunk.end(), [](char c) { return c != 0; })) return false;
    off += chunk.size();
  }
  return true;
}

Result<FrameStatus> FrameFileReader::Next(FrameView* frame) {
  if (offset_ >= limit_) return FrameStatus::kEnd;
  const std::uint64_t remaining = limit_ - offset_;
  PG2BQ_RETURN_IF_ERROR(Fill(offset_, kFrameHeaderSize));
  std::size_t need = static_cast<std::size_t>(std::min<std::uint64_t>(remaining, kFrameHeaderSize));
  if (need == kFrameHeaderSize) {
    std::string_view h = Buffered(offset_, kFrameHeaderSize);
    std::uint64_t body = std::min<std::uint64_t>(DecodeFixed32(h.data() + 4), kMaxFrameBody + 1);
    need = static_cast<std::size_t>(std::min<std::uint64_t>(remaining, kFrameHeaderSize + body));
  }
  PG2BQ_RETURN_IF_ERROR(Fill(offset_, need));
  std::string_view view = Buffered(offset_, need);
  if (view.size() < need) return Status::IoError(path_ + ": file shorter than expected");
  FrameStatus st = ParseFrame(view, frame);
  if (st == FrameStatus::kZeroFilled && need < remaining) {
    PG2BQ_ASSIGN_OR_RETURN(bool zero, RestIsZero(offset_ + need));
    if (!zero) st = FrameStatus::kBadChecksum;
  }
  if (st == FrameStatus::kOk) offset_ += frame->frame_size;
  return st;
}

Result<bool> FrameFileReader::FrameEndsInZeroSectors() {
  const std::uint64_t size = PeekFrameSize();
  if (size == 0 || offset_ + size != limit_) return false;
  PG2BQ_RETURN_IF_ERROR(Fill(offset_, static_cast<std::size_t>(size)));
  std::string_view frame = Buffered(offset_, static_cast<std::size_t>(size));
  if (frame.size() != size) return Status::IoError(path_ + ": file shorter than expected");
  // Last non-zero byte; the header's length brought us here, so it is in the header
  // at the latest.
  std::size_t last = frame.find_last_not_of('\0');
  if (last == std::string_view::npos) return true;
  const std::uint64_t zero_from = offset_ + last + 1;
  const std::uint64_t boundary = (zero_from + kSector - 1) / kSector * kSector;
  return boundary < limit_;
}

}  // namespace pg2bq::spool
