// SpoolReader: iterates records from a position, independently of the writer, so a
// flusher can send while the encoder appends.
//
// Visibility: with a SpoolTail (from a SpoolWriter in the same process) the reader
// sees exactly the records the writer made durable (fsynced; with fsync=off, written
// to the OS) and can wait for more; it never sees a record a crash could take back.
// Without a tail (another process, `pg2bq spool inspect`), it sees every complete
// record in the files; an incomplete frame at the end of the last segment counts as
// "not written yet".
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "common/status.h"
#include "spool/compression.h"
#include "spool/file_util.h"
#include "spool/frame_file_reader.h"
#include "spool/position.h"
#include "spool/record.h"
#include "spool/tail.h"

namespace pg2bq::spool {

struct SpoolEntry {
  Position position;  // where the record starts
  Position next;      // where the following record starts: acknowledge this
  Record record;
  std::uint64_t stored_bytes = 0;  // frame size on disk
};

class SpoolReader {
 public:
  // `from` is a record boundary (a SpoolEntry::next, a checkpoint, or {} for the
  // first record of the directory).
  static Result<std::unique_ptr<SpoolReader>> Open(const std::string& dir, Position from,
                                                   std::shared_ptr<const SpoolTail> tail = nullptr);

  // The next record, or nullopt at the end of what is visible now. Corruption names
  // segment and offset; NotFound when a segment it needs was deleted or is missing.
  Result<std::optional<SpoolEntry>> Next();

  // Blocks until a record beyond position() may be visible, the writer closed, or the
  // timeout passed. Without a tail, sleeps for min(timeout, 10 ms). Returns false
  // when the writer is closed and nothing more will come.
  bool WaitForMore(std::chrono::milliseconds timeout);

  Position position() const { return pos_; }

 private:
  SpoolReader(std::string dir, Position from, std::shared_ptr<const SpoolTail> tail)
      : dir_(std::move(dir)), pos_(from), tail_(std::move(tail)) {}
  Status OpenSegment();
  Result<bool> SegmentSealed();  // a later segment exists, so this one is complete

  std::string dir_;
  Position pos_;
  std::shared_ptr<const SpoolTail> tail_;
  ScopedFd fd_;
  std::string path_;
  std::unique_ptr<FrameFileReader> frames_;
  Decompressor decompressor_;
};

}  // namespace pg2bq::spool
