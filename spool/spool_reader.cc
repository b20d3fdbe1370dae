#include "spool/spool_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "spool/format.h"

namespace pg2bq::spool {

Result<std::unique_ptr<SpoolReader>> SpoolReader::Open(const std::string& dir, Position from,
                                                       std::shared_ptr<const SpoolTail> tail) {
  if (from.segment != 0 && from.offset < kSegmentHeaderSize) from.offset = kSegmentHeaderSize;
  return std::unique_ptr<SpoolReader>(new SpoolReader(dir, from, std::move(tail)));
}

Status SpoolReader::OpenSegment() {
  if (pos_.segment == 0) {
    PG2BQ_ASSIGN_OR_RETURN(auto seqs, ListSegments(dir_));
    if (seqs.empty()) return Status::Ok();
    pos_ = Position{seqs.front(), kSegmentHeaderSize};
  }
  path_ = JoinPath(dir_, SegmentFileName(pos_.segment));
  int raw = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (raw < 0) {
    if (errno == ENOENT) {
      // Not created yet is normal at the tail; below the writer's end it is damage.
      if (tail_ != nullptr && tail_->end().segment < pos_.segment) return Status::Ok();
      if (tail_ == nullptr) {
        PG2BQ_ASSIGN_OR_RETURN(auto seqs, ListSegments(dir_));
        if (seqs.empty() || seqs.back() < pos_.segment) return Status::Ok();
      }
      return Status::NotFound("spool segment " + path_ +
                              " is missing (deleted after a checkpoint, or lost)");
    }
    return Status::IoError("cannot open " + path_ + ": " + std::strerror(errno));
  }
  ScopedFd fd(raw);
  std::string header;
  PG2BQ_RETURN_IF_ERROR(PreadAll(fd.get(), 0, kSegmentHeaderSize, &header, path_));
  if (header.size() < kSegmentHeaderSize) {
    if (tail_ == nullptr) return Status::Ok();  // being created right now
    return Status::Corruption("spool segment " + path_ + ": header truncated");
  }
  PG2BQ_ASSIGN_OR_RETURN(SegmentHeader h, DecodeSegmentHeader(header, path_));
  if (h.sequence != pos_.segment) {
    return Status::Corruption("spool segment " + path_ + ": header says segment " +
                              std::to_string(h.sequence));
  }
  fd_ = std::move(fd);
  frames_ = std::make_unique<FrameFileReader>(fd_.get(), path_, pos_.offset, pos_.offset);
  return Status::Ok();
}

Result<bool> SpoolReader::SegmentSealed() {
  if (tail_ != nullptr) return tail_->end().segment > pos_.segment;
  const std::string next = JoinPath(dir_, SegmentFileName(pos_.segment + 1));
  return ::access(next.c_str(), F_OK) == 0;
}

Result<std::optional<SpoolEntry>> SpoolReader::Next() {
  for (;;) {
    if (frames_ == nullptr) {
      PG2BQ_RETURN_IF_ERROR(OpenSegment());
      if (frames_ == nullptr) return std::optional<SpoolEntry>();
    }
    // Decide how far this segment may be read.
    PG2BQ_ASSIGN_OR_RETURN(bool sealed, SegmentSealed());
    std::uint64_t limit;
    if (sealed || tail_ == nullptr) {
      PG2BQ_ASSIGN_OR_RETURN(limit, FileSize(fd_.get(), path_));
    } else {
      limit = tail_->end().offset;
    }
    if (limit < pos_.offset) limit = pos_.offset;
    frames_->set_limit(limit);
    FrameView frame;
    PG2BQ_ASSIGN_OR_RETURN(FrameStatus st, frames_->Next(&frame));
    if (st == FrameStatus::kOk) {
      auto rec = DecodeFrame(frame, &decompressor_);
      if (!rec.ok()) {
        return rec.status().WithContext("spool segment " + path_ + " offset " +
                                        std::to_string(pos_.offset));
      }
      SpoolEntry e{pos_, Position{pos_.segment, frames_->offset()}, std::move(rec).value(),
                   frame.frame_size};
      pos_ = e.next;
      return std::optional<SpoolEntry>(std::move(e));
    }
    if (st == FrameStatus::kEnd && sealed) {
      // Re-check the size: a sealed segment was complete before the next existed.
      PG2BQ_ASSIGN_OR_RETURN(std::uint64_t size, FileSize(fd_.get(), path_));
      if (size > pos_.offset) continue;
      frames_.reset();
      fd_ = ScopedFd();
      pos_ = Position{pos_.segment + 1, kSegmentHeaderSize};
      continue;
    }
    if (st == FrameStatus::kEnd) return std::optional<SpoolEntry>();
    const bool incomplete = st == FrameStatus::kTruncatedHeader ||
                            st == FrameStatus::kTruncatedRecord || st == FrameStatus::kZeroFilled;
    if (incomplete && tail_ == nullptr && !sealed) return std::optional<SpoolEntry>();
    return Status::Corruption("spool segment " + path_ + " offset " + std::to_string(pos_.offset) +
                              ": " + FrameStatusName(st));
  }
}

bool SpoolReader::WaitForMore(std::chrono::milliseconds timeout) {
  if (tail_ == nullptr) {
    std::this_thread::sleep_for(std::min(timeout, std::chrono::milliseconds(10)));
    return true;
  }
  Position end = tail_->WaitBeyond(pos_, timeout);
  return end > pos_ || !tail_->closed();
}

}  // namespace pg2bq::spool
