#include "spool/scan.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "spool/compression.h"
#include "spool/file_util.h"
#include "spool/format.h"
#include "spool/frame_file_reader.h"

namespace pg2bq::spool {
namespace {

std::string Where(const std::string& path, std::uint64_t offset) {
  return "spool segment " + path + " offset " + std::to_string(offset);
}

// Moves a damaged segment aside and returns the error that names it.
Status Quarantine(const std::string& dir, std::uint64_t seq, std::uint64_t offset,
                  const std::string& what, bool repair) {
  const std::string path = JoinPath(dir, SegmentFileName(seq));
  std::string msg = Where(path, offset) + ": " + what;
  if (!repair) return Status::Corruption(msg);
  const std::string qdir = JoinPath(dir, kQuarantineDir);
  PG2BQ_RETURN_IF_ERROR(EnsurePrivateDir(qdir));
  std::string target = JoinPath(qdir, SegmentFileName(seq));
  for (int i = 1; ::access(target.c_str(), F_OK) == 0; ++i) {
    target = JoinPath(qdir, SegmentFileName(seq) + "." + std::to_string(i));
  }
  if (::rename(path.c_str(), target.c_str()) != 0) {
    return Status::Corruption(msg + "; moving it to quarantine failed: " + std::strerror(errno));
  }
  PG2BQ_RETURN_IF_ERROR(SyncDir(qdir));
  PG2BQ_RETURN_IF_ERROR(SyncDir(dir));
  return Status::Corruption(msg + "; the segment was moved to " + target +
                            " and nothing after it was read. The spool will not open until an "
                            "operator decides (docs/SPOOL_FORMAT.md, \"Recovery\")");
}

Status TruncateFile(const std::string& path, std::uint64_t size) {
  PG2BQ_ASSIGN_OR_RETURN(ScopedFd fd, OpenFile(path, O_WRONLY));
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
    return Status::IoError("ftruncate " + path + ": " + std::strerror(errno));
  }
  return SyncFd(fd.get(), path);
}

Status RemoveFile(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Status::IoError("unlink " + path + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

bool AllZero(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == 0; });
}

void NoteLsn(SegmentSummary* s, Lsn lsn) {
  if (lsn == kInvalidLsn) return;
  if (s->min_lsn == kInvalidLsn || lsn < s->min_lsn) s->min_lsn = lsn;
  s->max_lsn = std::max(s->max_lsn, lsn);
}

struct StreamedRun {
  bool open = false;
  std::uint32_t xid = 0;
  Position start;
};

}  // namespace

Result<ScanReport> ScanSpool(const std::string& dir, const ScanOptions& options) {
  ScanReport report;
  PG2BQ_ASSIGN_OR_RETURN(report.checkpoint, ReadCheckpoint(dir));
  PG2BQ_ASSIGN_OR_RETURN(std::vector<std::uint64_t> seqs, ListSegments(dir));
  if (report.checkpoint) {
    report.durable_lsn = report.checkpoint->acked_lsn;
    const std::uint64_t first_needed = report.checkpoint->position.segment;
    while (!seqs.empty() && seqs.front() < first_needed) {
      report.stale_segments.push_back(seqs.front());
      if (options.repair)
        PG2BQ_RETURN_IF_ERROR(RemoveFile(JoinPath(dir, SegmentFileName(seqs.front()))));
      seqs.erase(seqs.begin());
    }
    if (!report.stale_segments.empty() && options.repair) PG2BQ_RETURN_IF_ERROR(SyncDir(dir));
    if (seqs.empty() || seqs.front() != first_needed) {
      return Status::Corruption("spool " + dir + ": segment " + SegmentFileName(first_needed) +
                                " is missing, but the checkpoint (" +
                                report.checkpoint->position.ToString() + ") points into it");
    }
  }
  for (std::size_t i = 1; i < seqs.size(); ++i) {
    if (seqs[i] != seqs[i - 1] + 1) {
      return Status::Corruption("spool " + dir + ": segment " + SegmentFileName(seqs[i - 1] + 1) +
                                " is missing (found " + SegmentFileName(seqs[i - 1]) + " and " +
                                SegmentFileName(seqs[i]) + "); records in it would be lost");
    }
  }

  Decompressor decompressor;
  StreamedRun run;
  for (std::size_t i = 0; i < seqs.size(); ++i) {
    const std::uint64_t seq = seqs[i];
    const bool last = i + 1 == seqs.size();
    const std::string path = JoinPath(dir, SegmentFileName(seq));
    PG2BQ_ASSIGN_OR_RETURN(ScopedFd fd, OpenFile(path, O_RDONLY));
    PG2BQ_ASSIGN_OR_RETURN(std::uint64_t size, FileSize(fd.get(), path));
    std::string header;
    PG2BQ_RETURN_IF_ERROR(PreadAll(fd.get(), 0, kSegmentHeaderSize, &header, path));
    if (header.size() < kSegmentHeaderSize || AllZero(header)) {
      // Created but its header never reached the disk: a crash during rollover.
      if (!last || (header.size() == kSegmentHeaderSize && size > kSegmentHeaderSize)) {
        return Quarantine(dir, seq, 0, "segment header truncated or zero-filled", options.repair);
      }
      report.torn_tail = Where(path, 0) + ": incomplete segment header (" + std::to_string(size) +
                         " bytes): segment removed";
      report.torn_bytes += size;
      if (options.repair) {
        PG2BQ_RETURN_IF_ERROR(RemoveFile(path));
        PG2BQ_RETURN_IF_ERROR(SyncDir(dir));
      }
      break;
    }
    auto hdr = DecodeSegmentHeader(header, path);
    if (!hdr.ok()) return Quarantine(dir, seq, 0, hdr.status().message(), options.repair);
    if (hdr->sequence != seq) {
      return Quarantine(
          dir, seq, 0,
          "header says segment " + std::to_string(hdr->sequence) + ": file renamed or copied over",
          options.repair);
    }
    SegmentSummary sum;
    sum.sequence = seq;
    sum.file_size = size;
    sum.prior_lsn = hdr->prior_lsn;
    report.durable_lsn = std::max(report.durable_lsn, hdr->prior_lsn);

    FrameFileReader reader(fd.get(), path, kSegmentHeaderSize, size);
    bool stop = false;
    while (!stop) {
      const std::uint64_t at = reader.offset();
      FrameView frame;
      PG2BQ_ASSIGN_OR_RETURN(FrameStatus st, reader.Next(&frame));
      switch (st) {
        case FrameStatus::kOk: {
          auto s = SummarizeFrame(frame);
          if (!s.ok()) return Quarantine(dir, seq, at, s.status().message(), options.repair);
          if (options.decode_payloads) {
            auto rec = DecodeFrame(frame, &decompressor);
            if (!rec.ok()) return Quarantine(dir, seq, at, rec.status().message(), options.repair);
          }
          const bool streamed_rows = s->type == RecordType::kRowBatch && s->xid != 0;
          if (streamed_rows) {
            if (!run.open) run = StreamedRun{true, s->xid, Position{seq, at}};
            if (run.xid != s->xid) {
              return Quarantine(dir, seq, at,
                                "rows of streamed transaction " + std::to_string(s->xid) +
                                    " inside transaction " + std::to_string(run.xid),
                                options.repair);
            }
          } else if (s->type == RecordType::kTxnCommit) {
            if (run.open && run.xid != s->xid) {
              return Quarantine(dir, seq, at,
                                "commit of xid " + std::to_string(s->xid) +
                                    " while the rows of xid " + std::to_string(run.xid) +
                                    " are incomplete",
                                options.repair);
            }
            run.open = false;
          } else if (run.open) {
            return Quarantine(dir, seq, at,
                              std::string(RecordTypeName(s->type)) +
                                  " record inside streamed transaction " + std::to_string(run.xid),
                              options.repair);
          }
          report.durable_lsn = std::max(report.durable_lsn, s->complete_through_lsn);
          sum.records++;
          sum.records_by_type[static_cast<std::size_t>(s->type)]++;
          sum.rows += s->row_count;
          sum.stored_payload_bytes += frame.payload.size();
          sum.raw_payload_bytes += s->raw_payload_size;
          if (s->type == RecordType::kRowBatch || s->type == RecordType::kTxnCommit) {
            NoteLsn(&sum, s->first_lsn);
            NoteLsn(&sum, s->last_lsn);
          }
          break;
        }
        case FrameStatus::kEnd:
          stop = true;
          break;
        case FrameStatus::kZeroFilled:
        case FrameStatus::kTruncatedHeader:
        case FrameStatus::kTruncatedRecord:
        case FrameStatus::kBadChecksum: {
          bool torn = last && st != FrameStatus::kBadChecksum;
          if (last && st == FrameStatus::kBadChecksum) {
            PG2BQ_ASSIGN_OR_RETURN(torn, reader.FrameEndsInZeroSectors());
          }
          if (!torn) {
            std::string what = FrameStatusName(st);
            if (!last) what += " in a sealed segment (a later segment exists)";
            return Quarantine(dir, seq, at, what, options.repair);
          }
          report.torn_tail = Where(path, at) + ": " + FrameStatusName(st) + ", " +
                             std::to_string(size - at) + " bytes truncated";
          report.torn_bytes += size - at;
          if (options.repair) PG2BQ_RETURN_IF_ERROR(TruncateFile(path, at));
          stop = true;
          break;
        }
        case FrameStatus::kBadLength:
        case FrameStatus::kBadType:
          return Quarantine(dir, seq, at, FrameStatusName(st), options.repair);
      }
    }
    sum.valid_end = reader.offset();
    report.segments.push_back(sum);
  }

  if (run.open) {
    report.incomplete_streamed_txn = "streamed transaction xid " + std::to_string(run.xid) +
                                     " without its commit record, from " + run.start.ToString();
    while (!report.segments.empty() && report.segments.back().sequence > run.start.segment) {
      if (options.repair) {
        PG2BQ_RETURN_IF_ERROR(
            RemoveFile(JoinPath(dir, SegmentFileName(report.segments.back().sequence))));
      }
      report.segments.pop_back();
    }
    if (options.repair) {
      PG2BQ_RETURN_IF_ERROR(
          TruncateFile(JoinPath(dir, SegmentFileName(run.start.segment)), run.start.offset));
      PG2BQ_RETURN_IF_ERROR(SyncDir(dir));
    }
    report.segments.back().valid_end = run.start.offset;
  }
  if (!report.segments.empty()) {
    report.end = Position{report.segments.back().sequence, report.segments.back().valid_end};
  }
  if (report.checkpoint && report.checkpoint->position > report.end) {
    return Status::Corruption(
        "spool " + dir + ": the checkpoint (" + report.checkpoint->position.ToString() +
        ") lies beyond the end of the spool's data (" + report.end.ToString() +
        "); data the sink acknowledged is gone (was fsync=off?)");
  }
  return report;
}

}  // namespace pg2bq::spool
