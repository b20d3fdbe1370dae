#include "spool/spool_writer.h"

#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/lsn.h"
#include "spool/format.h"
#include "spool/frame_file_reader.h"

namespace pg2bq::spool {
namespace {

constexpr char kSpillDir[] = "spill";
constexpr char kLockFile[] = "LOCK";

Status RemoveSpillFiles(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return Status::IoError("cannot list " + dir + ": " + std::strerror(errno));
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  for (const auto& n : names) {
    std::string p = JoinPath(dir, n);
    if (::unlink(p.c_str()) != 0) {
      return Status::IoError("cannot remove stale spill file " + p + ": " + std::strerror(errno));
    }
  }
  return Status::Ok();
}

std::string SpillFileName(std::uint32_t xid) {
  return std::to_string(xid) + ".spill";
}

}  // namespace

SpoolWriter::SpoolWriter(const SpoolOptions& options) : opts_(options) {}

Result<std::unique_ptr<SpoolWriter>> SpoolWriter::Open(const SpoolOptions& options) {
  PG2BQ_RETURN_IF_ERROR(options.Validate());
  std::unique_ptr<SpoolWriter> w(new SpoolWriter(options));
  PG2BQ_RETURN_IF_ERROR(w->Init());
  return w;
}

Status SpoolWriter::Init() {
  const std::string& dir = opts_.dir;
  PG2BQ_RETURN_IF_ERROR(EnsurePrivateDir(dir));
  const std::string lock_path = JoinPath(dir, kLockFile);
  PG2BQ_ASSIGN_OR_RETURN(lock_fd_, OpenFile(lock_path, O_RDWR | O_CREAT));
  if (::flock(lock_fd_.get(), LOCK_EX | LOCK_NB) != 0) {
    return Status::FailedPrecondition("spool " + dir + " is in use by another process (lock on " +
                                      lock_path + ")");
  }
  // A streamed transaction not committed before a restart is sent again by
  // PostgreSQL (its commit LSN is above what we confirmed), so old spills are stale.
  const std::string spill_dir = JoinPath(dir, kSpillDir);
  PG2BQ_RETURN_IF_ERROR(EnsurePrivateDir(spill_dir));
  PG2BQ_RETURN_IF_ERROR(RemoveSpillFiles(spill_dir));

  // A quarantined segment means records are missing; opening anyway would go on
  // appending after a hole. The operator decides first (docs/SPOOL_FORMAT.md).
  const std::string qdir = JoinPath(dir, kQuarantineDir);
  if (::access(qdir.c_str(), F_OK) == 0) {
    PG2BQ_ASSIGN_OR_RETURN(auto quarantined, ListSegments(qdir));
    DIR* d = ::opendir(qdir.c_str());
    bool any = !quarantined.empty();
    while (d != nullptr && !any) {
      dirent* e = ::readdir(d);
      if (e == nullptr) break;
      any = std::string_view(e->d_name).find(".seg") != std::string_view::npos;
    }
    if (d != nullptr) ::closedir(d);
    if (any) {
      return Status::FailedPrecondition(
          "spool " + dir + " has damaged segments in " + qdir +
          "; it will not open until an operator restores or discards them "
          "(docs/SPOOL_FORMAT.md, \"Recovery\")");
    }
  }

  ScanOptions scan;
  scan.repair = true;
  auto report = ScanSpool(dir, scan);
  if (!report.ok()) {
    spdlog::error("spool {}: recovery failed: {}", dir, report.status().ToString());
    return report.status();
  }
  recovery_ = std::move(report).value();
  if (!recovery_.torn_tail.empty()) {
    spdlog::warn("spool {}: torn tail after a crash: {}", dir, recovery_.torn_tail);
  }
  if (!recovery_.incomplete_streamed_txn.empty()) {
    spdlog::warn("spool {}: dropped {} (PostgreSQL sends it again)", dir,
                 recovery_.incomplete_streamed_txn);
  }

  std::lock_guard lk(mu_);
  for (const auto& s : recovery_.segments) {
    segment_bytes_[s.sequence] =
        s.sequence == recovery_.segments.back().sequence ? s.valid_end : s.file_size;
  }
  if (recovery_.segments.empty()) {
    PG2BQ_RETURN_IF_ERROR(CreateSegmentLocked(1, recovery_.durable_lsn));
  } else {
    // Whatever a crashed process wrote but never fsynced is durable only now.
    for (const auto& s : recovery_.segments) {
      const std::string path = JoinPath(dir, SegmentFileName(s.sequence));
      PG2BQ_ASSIGN_OR_RETURN(ScopedFd fd, OpenFile(path, O_WRONLY | O_APPEND));
      if (opts_.fsync != FsyncPolicy::kOff) PG2BQ_RETURN_IF_ERROR(SyncFd(fd.get(), path));
      if (s.sequence == recovery_.segments.back().sequence) {
        auto seg = std::make_shared<Segment>();
        seg->fd = std::move(fd);
        seg->sequence = s.sequence;
        seg->path = path;
        segment_ = std::move(seg);
        appended_end_ = recovery_.end;
      }
    }
  }
  appended_lsn_ = durable_lsn_ = recovery_.durable_lsn;
  durable_end_ = appended_end_;
  checkpoint_ = recovery_.checkpoint;
  metrics_.durable_lsn = durable_lsn_;
  metrics_.segments = segment_bytes_.size();
  metrics_.bytes_on_disk = BytesUsedLocked();
  tail_->Publish(durable_end_);
  spdlog::info("spool {}: open, {} segment(s), {} bytes, end {}, durable LSN {}, fsync={}", dir,
               segment_bytes_.size(), BytesUsedLocked(), durable_end_.ToString(),
               FormatLsn(durable_lsn_), FsyncPolicyName(opts_.fsync));
  if (opts_.fsync != FsyncPolicy::kAlways) sync_thread_ = std::thread([this] { SyncLoop(); });
  return Status::Ok();
}

SpoolWriter::~SpoolWriter() {
  Status s = Close();
  if (!s.ok()) spdlog::error("spool {}: close: {}", opts_.dir, s.ToString());
}

Status SpoolWriter::FailLocked(Status status) {
  if (failed_.ok()) {
    failed_ = status;
    spdlog::error("spool {}: writer stopped after an I/O error: {}", opts_.dir, status.ToString());
  }
  durable_cv_.notify_all();
  space_cv_.notify_all();
  return status;
}

Status SpoolWriter::CreateSegmentLocked(std::uint64_t sequence, Lsn prior_lsn) {
  auto seg = std::make_shared<Segment>();
  seg->sequence = sequence;
  seg->path = JoinPath(opts_.dir, SegmentFileName(sequence));
  auto fd = OpenFile(seg->path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND);
  if (!fd.ok()) return FailLocked(fd.status());
  seg->fd = std::move(fd).value();
  SegmentHeader h;
  h.sequence = sequence;
  h.prior_lsn = prior_lsn;
  Status s = WriteAll(seg->fd.get(), EncodeSegmentHeader(h), seg->path);
  if (s.ok() && opts_.fsync != FsyncPolicy::kOff) s = SyncFd(seg->fd.get(), seg->path);
  if (s.ok() && opts_.fsync != FsyncPolicy::kOff) s = SyncDir(opts_.dir);
  if (!s.ok()) return FailLocked(s);
  segment_ = std::move(seg);
  segment_bytes_[sequence] = kSegmentHeaderSize;
  appended_end_ = Position{sequence, kSegmentHeaderSize};
  metrics_.segments = segment_bytes_.size();
  return Status::Ok();
}

Status SpoolWriter::WritePendingLocked() {
  if (pending_.empty()) return Status::Ok();
  Status s = WriteAll(segment_->fd.get(), pending_, segment_->path);
  pending_.clear();
  if (!s.ok()) return FailLocked(s);
  return Status::Ok();
}

Status SpoolWriter::RollLocked() {
  PG2BQ_RETURN_IF_ERROR(WritePendingLocked());
  // Sealed segments are complete on disk: readers and recovery rely on it.
  if (opts_.fsync != FsyncPolicy::kOff) {
    Status s = SyncFd(segment_->fd.get(), segment_->path);
    metrics_.fsyncs++;
    if (!s.ok()) return FailLocked(s);
  }
  return CreateSegmentLocked(segment_->sequence + 1, appended_lsn_);
}

std::uint64_t SpoolWriter::BytesUsedLocked() const {
  std::uint64_t total = spill_bytes_;
  for (const auto& [seq, bytes] : segment_bytes_)
    total += bytes;
  return total;
}

Status SpoolWriter::WaitForSpaceLocked(std::unique_lock<std::mutex>& lk, std::uint64_t bytes) {
  if (opts_.max_bytes == 0 || BytesUsedLocked() + bytes <= opts_.max_bytes) {
    if (metrics_.budget_blocked.exchange(0) == 1) {
      spdlog::info("spool {}: disk budget has room again ({} bytes used)", opts_.dir,
                   BytesUsedLocked());
    }
    return Status::Ok();
  }
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + opts_.budget_wait;
  metrics_.budget_waits_total++;
  if (metrics_.budget_blocked.exchange(1) == 0) {
    spdlog::warn(
        "spool {}: disk budget reached ({} of max_bytes {} used); appends wait until the sink "
        "acknowledges data, so the replication stream pauses and PostgreSQL retains WAL",
        opts_.dir, BytesUsedLocked(), opts_.max_bytes);
  }
  bool fits = space_cv_.wait_until(lk, deadline, [&] {
    return BytesUsedLocked() + bytes <= opts_.max_bytes || cancelled_ || closing_ || !failed_.ok();
  });
  metrics_.budget_wait_micros_total +=
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                     std::chrono::steady_clock::now() - start)
                                     .count());
  if (!failed_.ok()) return failed_;
  if (cancelled_ || closing_) return Status::Aborted("spool append cancelled by shutdown");
  if (!fits) {
    metrics_.budget_timeouts_total++;
    return Status::ResourceExhausted("spool " + opts_.dir + ": disk budget full (" +
                                     std::to_string(BytesUsedLocked()) + " of max_bytes " +
                                     std::to_string(opts_.max_bytes) +
                                     " used); nothing was written, retry after the sink "
                                     "acknowledges data");
  }
  metrics_.budget_blocked = 0;
  spdlog::info("spool {}: disk budget has room again ({} bytes used)", opts_.dir,
               BytesUsedLocked());
  return Status::Ok();
}

Result<Position> SpoolWriter::AppendFrameLocked(std::string_view frame, Lsn complete_through) {
  if (appended_end_.offset + frame.size() > opts_.segment_bytes &&
      appended_end_.offset > kSegmentHeaderSize) {
    PG2BQ_RETURN_IF_ERROR(RollLocked());
  }
  const Position at = appended_end_;
  pending_.append(frame);
  appended_end_.offset += frame.size();
  segment_bytes_[at.segment] += frame.size();
  appended_lsn_ = std::max(appended_lsn_, complete_through);
  if (!unsynced_) {
    unsynced_ = true;
    first_unsynced_ = std::chrono::steady_clock::now();
  }
  metrics_.records_appended++;
  metrics_.frame_bytes_appended += frame.size();
  if (pending_.size() >= opts_.write_buffer_bytes) PG2BQ_RETURN_IF_ERROR(WritePendingLocked());
  return at;
}

Status SpoolWriter::EncodeFrames(std::span<const Record> records, std::string* frames,
                                 std::vector<std::size_t>* sizes) {
  std::unique_ptr<Compressor> compressor;
  {
    std::lock_guard lk(compressors_mu_);
    if (!idle_compressors_.empty()) {
      compressor = std::move(idle_compressors_.back());
      idle_compressors_.pop_back();
    }
  }
  if (!compressor) compressor = std::make_unique<Compressor>(opts_.zstd_level);
  Status st = Status::Ok();
  for (const Record& r : records) {
    const std::size_t before = frames->size();
    st = EncodeFrame(r, compressor.get(), frames);
    if (!st.ok()) break;
    sizes->push_back(frames->size() - before);
    if (auto* b = std::get_if<RowBatch>(&r)) metrics_.raw_payload_bytes_appended += b->rows.size();
  }
  std::lock_guard lk(compressors_mu_);
  idle_compressors_.push_back(std::move(compressor));
  return st;
}

Result<Position> SpoolWriter::Append(const Record& record) {
  return AppendGroup(std::span<const Record>(&record, 1));
}

Result<Position> SpoolWriter::AppendGroup(std::span<const Record> records) {
  if (records.empty()) return Status::InvalidArgument("spool: empty append");
  for (const Record& r : records) {
    if (std::holds_alternative<TxnAbort>(r)) {
      return Status::InvalidArgument("spool: TxnAbort records go through AbortStreamed");
    }
    if (auto* b = std::get_if<RowBatch>(&r); b != nullptr && (b->xid != 0 || b->subxid != 0)) {
      return Status::InvalidArgument("spool: rows of streamed transaction " +
                                     std::to_string(b->xid) + " go through AppendStreamed");
    }
    if (auto* c = std::get_if<TxnCommit>(&r); c != nullptr) {
      return Status::InvalidArgument("spool: commit of streamed transaction " +
                                     std::to_string(c->xid) + " goes through CommitStreamed");
    }
  }
  std::string frames;
  std::vector<std::size_t> sizes;
  PG2BQ_RETURN_IF_ERROR(EncodeFrames(records, &frames, &sizes));
  Position first, end;
  {
    std::unique_lock lk(mu_);
    if (!failed_.ok()) return failed_;
    if (closing_) return Status::Aborted("spool writer is closed");
    PG2BQ_RETURN_IF_ERROR(WaitForSpaceLocked(lk, frames.size()));
    std::size_t off = 0;
    for (std::size_t i = 0; i < records.size(); ++i) {
      PG2BQ_ASSIGN_OR_RETURN(Position at,
                             AppendFrameLocked(std::string_view(frames).substr(off, sizes[i]),
                                               CompleteThroughLsn(records[i])));
      if (i == 0) first = at;
      off += sizes[i];
    }
    end = appended_end_;
    metrics_.bytes_on_disk = BytesUsedLocked();
  }
  if (opts_.fsync == FsyncPolicy::kAlways) {
    PG2BQ_RETURN_IF_ERROR(SyncThrough(end));
  } else {
    sync_cv_.notify_one();
  }
  return first;
}

Result<SpoolWriter::Spill*> SpoolWriter::SpillForLocked(std::uint32_t xid) {
  auto it = spills_.find(xid);
  if (it != spills_.end()) return &it->second;
  Spill s;
  s.path = JoinPath(JoinPath(opts_.dir, kSpillDir), SpillFileName(xid));
  PG2BQ_ASSIGN_OR_RETURN(s.fd, OpenFile(s.path, O_RDWR | O_CREAT | O_TRUNC | O_APPEND));
  SegmentHeader h;
  h.sequence = xid;
  PG2BQ_RETURN_IF_ERROR(WriteAll(s.fd.get(), EncodeSegmentHeader(h), s.path));
  s.bytes = kSegmentHeaderSize;
  spill_bytes_ += s.bytes;
  return &spills_.emplace(xid, std::move(s)).first->second;
}

void SpoolWriter::DropSpillLocked(std::uint32_t xid) {
  auto it = spills_.find(xid);
  if (it == spills_.end()) return;
  if (::unlink(it->second.path.c_str()) != 0) {
    spdlog::warn("spool: cannot remove spill file {}: {}", it->second.path, std::strerror(errno));
  }
  spill_bytes_ -= it->second.bytes;
  spills_.erase(it);
  metrics_.spill_bytes = spill_bytes_;
  metrics_.bytes_on_disk = BytesUsedLocked();
  space_cv_.notify_all();
}

Status SpoolWriter::AppendStreamed(const RowBatch& batch) {
  if (batch.xid == 0) return Status::InvalidArgument("spool: streamed rows need an xid");
  RowBatch copy = batch;
  if (copy.subxid == 0) copy.subxid = copy.xid;
  // Durability of a streamed transaction comes from its TxnCommit record only.
  copy.complete_through_lsn = kInvalidLsn;
  std::string frame;
  std::vector<std::size_t> sizes;
  Record rec(std::move(copy));
  PG2BQ_RETURN_IF_ERROR(EncodeFrames(std::span<const Record>(&rec, 1), &frame, &sizes));
  std::unique_lock lk(mu_);
  if (!failed_.ok()) return failed_;
  if (closing_) return Status::Aborted("spool writer is closed");
  PG2BQ_RETURN_IF_ERROR(WaitForSpaceLocked(lk, frame.size()));
  PG2BQ_ASSIGN_OR_RETURN(Spill * spill, SpillForLocked(batch.xid));
  // Spill files need no fsync: after a crash PostgreSQL streams the transaction again.
  PG2BQ_RETURN_IF_ERROR(WriteAll(spill->fd.get(), frame, spill->path));
  spill->bytes += frame.size();
  spill_bytes_ += frame.size();
  metrics_.spill_bytes = spill_bytes_;
  metrics_.bytes_on_disk = BytesUsedLocked();
  return Status::Ok();
}

Status SpoolWriter::AbortStreamed(const TxnAbort& abort) {
  std::unique_lock lk(mu_);
  if (!failed_.ok()) return failed_;
  auto it = spills_.find(abort.xid);
  if (abort.subxid == 0 || abort.subxid == abort.xid) {
    DropSpillLocked(abort.xid);
    metrics_.streamed_txns_aborted++;
    return Status::Ok();
  }
  metrics_.subtxns_aborted++;
  if (it == spills_.end()) return Status::Ok();  // nothing of it was spilled
  Spill& spill = it->second;
  spill.aborted_subxids.insert(abort.subxid);
  // Recorded in the file too, so a spill file explains itself when inspected.
  std::string frame;
  PG2BQ_RETURN_IF_ERROR(EncodeFrame(Record(abort), nullptr, &frame));
  PG2BQ_RETURN_IF_ERROR(WriteAll(spill.fd.get(), frame, spill.path));
  spill.bytes += frame.size();
  spill_bytes_ += frame.size();
  metrics_.spill_bytes = spill_bytes_;
  return Status::Ok();
}

Status SpoolWriter::CommitStreamed(const TxnCommit& commit) {
  if (commit.xid == 0) return Status::InvalidArgument("spool: streamed commit needs an xid");
  std::string commit_frame;
  PG2BQ_RETURN_IF_ERROR(EncodeFrame(Record(commit), nullptr, &commit_frame));
  Position end;
  {
    std::unique_lock lk(mu_);
    if (!failed_.ok()) return failed_;
    if (closing_) return Status::Aborted("spool writer is closed");
    auto it = spills_.find(commit.xid);
    if (it != spills_.end()) {
      Spill& spill = it->second;
      FrameFileReader reader(spill.fd.get(), spill.path, kSegmentHeaderSize, spill.bytes);
      for (;;) {
        FrameView frame;
        auto st = reader.Next(&frame);
        if (!st.ok()) return FailLocked(st.status());
        if (*st == FrameStatus::kEnd) break;
        if (*st != FrameStatus::kOk) {
          return FailLocked(Status::Corruption("spill file " + spill.path + " offset " +
                                               std::to_string(reader.offset()) + ": " +
                                               FrameStatusName(*st)));
        }
        if (frame.type != RecordType::kRowBatch) continue;
        auto sum = SummarizeFrame(frame);
        if (!sum.ok()) return FailLocked(sum.status());
        if (spill.aborted_subxids.count(sum->subxid) != 0) continue;
        std::string_view whole(frame.meta.data() - kFrameHeaderSize, frame.frame_size);
        auto at = AppendFrameLocked(whole, kInvalidLsn);
        if (!at.ok()) return at.status();
      }
      DropSpillLocked(commit.xid);
    }
    auto at = AppendFrameLocked(commit_frame, commit.commit_lsn);
    if (!at.ok()) return at.status();
    end = appended_end_;
    metrics_.streamed_txns_committed++;
    metrics_.bytes_on_disk = BytesUsedLocked();
  }
  if (opts_.fsync == FsyncPolicy::kAlways) return SyncThrough(end);
  sync_cv_.notify_one();
  return Status::Ok();
}

Status SpoolWriter::SyncThrough(Position target) {
  std::lock_guard sync_lk(sync_mu_);
  std::shared_ptr<Segment> seg;
  Position end;
  Lsn lsn;
  {
    std::lock_guard lk(mu_);
    if (!failed_.ok()) return failed_;
    if (durable_end_ >= target) return Status::Ok();  // a concurrent sync covered it
    PG2BQ_RETURN_IF_ERROR(WritePendingLocked());
    end = appended_end_;
    lsn = appended_lsn_;
    seg = segment_;
    unsynced_ = false;
  }
  if (opts_.fsync != FsyncPolicy::kOff) {
    Status s = SyncFd(seg->fd.get(), seg->path);
    metrics_.fsyncs++;
    if (!s.ok()) {
      std::lock_guard lk(mu_);
      return FailLocked(s);
    }
  }
  {
    std::lock_guard lk(mu_);
    durable_end_ = std::max(durable_end_, end);
    durable_lsn_ = std::max(durable_lsn_, lsn);
    metrics_.durable_lsn = durable_lsn_;
  }
  tail_->Publish(end);
  durable_cv_.notify_all();
  return Status::Ok();
}

void SpoolWriter::SyncLoop() {
  std::unique_lock lk(mu_);
  while (!closing_) {
    if (!failed_.ok()) {
      sync_cv_.wait(lk, [&] { return closing_; });
      break;
    }
    if (!unsynced_) {
      sync_cv_.wait(lk);
      continue;
    }
    const auto deadline = first_unsynced_ + opts_.batch_delay;
    if (std::chrono::steady_clock::now() < deadline) {
      sync_cv_.wait_until(lk, deadline);
      continue;
    }
    const Position target = appended_end_;
    lk.unlock();
    Status s = SyncThrough(target);
    lk.lock();
    if (!s.ok()) spdlog::error("spool {}: background sync: {}", opts_.dir, s.ToString());
  }
}

Status SpoolWriter::Sync() {
  Position target;
  {
    std::lock_guard lk(mu_);
    if (!failed_.ok()) return failed_;
    target = appended_end_;
  }
  return SyncThrough(target);
}

Status SpoolWriter::WaitDurable(Lsn lsn, std::chrono::milliseconds timeout) {
  std::unique_lock lk(mu_);
  bool ok = durable_cv_.wait_for(lk, timeout,
                                 [&] { return durable_lsn_ >= lsn || !failed_.ok() || closing_; });
  if (durable_lsn_ >= lsn) return Status::Ok();
  if (!failed_.ok()) return failed_;
  if (closing_) return Status::Aborted("spool writer is closed");
  (void)ok;
  return Status::Unavailable("spool: LSN " + FormatLsn(lsn) + " not durable after " +
                             std::to_string(timeout.count()) + " ms (durable LSN " +
                             FormatLsn(durable_lsn_) + ")");
}

Lsn SpoolWriter::durable_lsn() const {
  std::lock_guard lk(mu_);
  return durable_lsn_;
}

Position SpoolWriter::durable_end() const {
  std::lock_guard lk(mu_);
  return durable_end_;
}

Position SpoolWriter::appended_end() const {
  std::lock_guard lk(mu_);
  return appended_end_;
}

std::optional<Checkpoint> SpoolWriter::last_checkpoint() const {
  std::lock_guard lk(mu_);
  return checkpoint_;
}

Position SpoolWriter::start_position() const {
  std::lock_guard lk(mu_);
  if (checkpoint_) return checkpoint_->position;
  if (segment_bytes_.empty()) return Position{};
  return Position{segment_bytes_.begin()->first, kSegmentHeaderSize};
}

Status SpoolWriter::Acknowledge(const Checkpoint& cp) {
  std::lock_guard ck(checkpoint_mu_);
  {
    std::lock_guard lk(mu_);
    if (!failed_.ok()) return failed_;
    if (cp.position > durable_end_) {
      return Status::InvalidArgument("spool: checkpoint " + cp.position.ToString() +
                                     " is beyond the durable end " + durable_end_.ToString());
    }
    if (checkpoint_ && cp.position < checkpoint_->position) {
      return Status::InvalidArgument("spool: checkpoint " + cp.position.ToString() +
                                     " moves back from " + checkpoint_->position.ToString());
    }
  }
  PG2BQ_RETURN_IF_ERROR(WriteCheckpoint(opts_.dir, cp));
  std::vector<std::uint64_t> doomed;
  {
    std::lock_guard lk(mu_);
    checkpoint_ = cp;
    for (auto it = segment_bytes_.begin(); it != segment_bytes_.end() &&
                                           it->first < cp.position.segment &&
                                           it->first != segment_->sequence;) {
      doomed.push_back(it->first);
      it = segment_bytes_.erase(it);
    }
    metrics_.segments = segment_bytes_.size();
    metrics_.bytes_on_disk = BytesUsedLocked();
  }
  // A crash between the checkpoint and these unlinks leaves segments below the
  // checkpoint; the next Open deletes them.
  for (std::uint64_t seq : doomed) {
    const std::string path = JoinPath(opts_.dir, SegmentFileName(seq));
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return Status::IoError("cannot delete acknowledged segment " + path + ": " +
                             std::strerror(errno));
    }
  }
  if (!doomed.empty()) {
    space_cv_.notify_all();
  }
  return Status::Ok();
}

void SpoolWriter::Cancel() {
  {
    std::lock_guard lk(mu_);
    cancelled_ = true;
  }
  space_cv_.notify_all();
}

Status SpoolWriter::Close() {
  {
    std::lock_guard lk(mu_);
    if (closing_) return Status::Ok();
  }
  Status s;
  {
    std::lock_guard lk(mu_);
    if (failed_.ok() && segment_ != nullptr) s = WritePendingLocked();
  }
  if (s.ok()) {
    std::lock_guard lk(mu_);
    if (!failed_.ok()) s = failed_;
  }
  if (s.ok() && segment_ != nullptr) s = Sync();
  {
    std::lock_guard lk(mu_);
    closing_ = true;
    for (auto& [xid, spill] : spills_)
      ::unlink(spill.path.c_str());
    spills_.clear();
    spill_bytes_ = 0;
  }
  sync_cv_.notify_all();
  space_cv_.notify_all();
  durable_cv_.notify_all();
  if (sync_thread_.joinable()) sync_thread_.join();
  tail_->Close();
  return s;
}

}  // namespace pg2bq::spool
