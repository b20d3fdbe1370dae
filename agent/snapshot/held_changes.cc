#include "agent/snapshot/held_changes.h"

#include <spdlog/spdlog.h>

#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <system_error>

#include "spool/file_util.h"
#include "spool/spool_reader.h"

namespace pg2bq::agent::snapshot {

namespace {

constexpr std::string_view kPrefix = "held-";

// "held-<oid>-<16 hex digits>" -> (oid, hold_from).
std::optional<std::pair<std::uint32_t, Lsn>> ParseName(const std::string& name) {
  if (name.rfind(kPrefix, 0) != 0) return std::nullopt;
  unsigned long oid = 0;
  unsigned long long lsn = 0;
  char tail = 0;
  if (std::sscanf(name.c_str() + kPrefix.size(), "%lu-%16llx%c", &oid, &lsn, &tail) != 2)
    return std::nullopt;
  return std::make_pair(static_cast<std::uint32_t>(oid), static_cast<Lsn>(lsn));
}

struct SideSpoolDir {
  std::uint32_t table = 0;
  Lsn hold_from = kInvalidLsn;
  std::filesystem::path path;
};

// The side spool directories under `dir` (none when `dir` does not exist).
Result<std::vector<SideSpoolDir>> ListSideSpools(const std::string& dir) {
  std::vector<SideSpoolDir> out;
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) return out;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code dec;  // an entry removed meanwhile (a replay) is skipped, not thrown
    if (!it->is_directory(dec)) continue;
    if (auto parsed = ParseName(it->path().filename().string()))
      out.push_back({parsed->first, parsed->second, it->path()});
  }
  if (ec) return Status::IoError("listing " + dir + ": " + ec.message());
  return out;
}

std::size_t RecordBytes(const spool::Record& r) {
  if (auto* b = std::get_if<spool::RowBatch>(&r)) return b->rows.size();
  if (auto* d = std::get_if<spool::DescriptorVersion>(&r)) return d->descriptor.size();
  return 64;
}

}  // namespace

HeldChanges::HeldChanges(std::string dir, spool::SpoolOptions options)
    : dir_(std::move(dir)), options_(std::move(options)) {
  options_.max_bytes = 0;
}

HeldChanges::~HeldChanges() {
  if (Status s = CloseAll(); !s.ok()) spdlog::error("closing held changes: {}", s.ToString());
}

std::string HeldChanges::DirFor(std::uint32_t table, Lsn hold_from) const {
  char buf[64];
  std::snprintf(buf, sizeof buf, "held-%" PRIu32 "-%016" PRIX64, table,
                static_cast<std::uint64_t>(hold_from));
  return dir_ + "/" + buf;
}

Result<std::vector<std::pair<std::uint32_t, Lsn>>> HeldChanges::OnDisk() const {
  PG2BQ_ASSIGN_OR_RETURN(auto dirs, ListSideSpools(dir_));
  std::vector<std::pair<std::uint32_t, Lsn>> out;
  for (const SideSpoolDir& d : dirs)
    out.emplace_back(d.table, d.hold_from);
  return out;
}

bool HeldChanges::Holds(std::uint32_t table, Lsn hold_from) const {
  if (auto it = open_.find(table); it != open_.end()) return it->second.hold_from == hold_from;
  std::error_code ec;
  return std::filesystem::is_directory(DirFor(table, hold_from), ec);
}

Status HeldChanges::Open(std::uint32_t table, Lsn hold_from) {
  if (auto it = open_.find(table); it != open_.end()) {
    if (it->second.hold_from == hold_from) return Status::Ok();
    return Status::Internal("held changes of relation " + std::to_string(table) +
                            " are already open from " + FormatLsn(it->second.hold_from));
  }
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return Status::IoError("creating " + dir_ + ": " + ec.message());
  Held h;
  h.hold_from = hold_from;
  h.dir = DirFor(table, hold_from);
  spool::SpoolOptions o = options_;
  o.dir = h.dir;
  auto w = spool::SpoolWriter::Open(o);
  if (!w.ok()) return w.status().WithContext("held changes of relation " + std::to_string(table));
  h.writer = std::move(*w);
  // The side spool's directory entry must survive a power loss: the slot is confirmed past
  // the changes it will hold.
  PG2BQ_RETURN_IF_ERROR(spool::SyncDir(dir_));
  open_.emplace(table, std::move(h));
  UpdateBytes();
  return Status::Ok();
}

void HeldChanges::UpdateBytes() {
  std::uint64_t total = 0;
  for (const auto& [table, h] : open_)
    total += h.writer->metrics().bytes_on_disk.load(std::memory_order_relaxed);
  bytes_.store(total, std::memory_order_relaxed);
}

Result<std::vector<std::pair<std::uint32_t, std::uint64_t>>> HeldChanges::BytesOnDisk(
    const std::string& dir) {
  PG2BQ_ASSIGN_OR_RETURN(auto dirs, ListSideSpools(dir));
  std::vector<std::pair<std::uint32_t, std::uint64_t>> out;
  for (const SideSpoolDir& d : dirs) {
    std::uint64_t bytes = 0;
    std::error_code ec;
    for (std::filesystem::directory_iterator f(d.path, ec), end; !ec && f != end; f.increment(ec)) {
      std::error_code sec;
      const auto size = f->is_regular_file(sec) ? f->file_size(sec) : 0;
      if (!sec) bytes += size;  // a segment removed meanwhile counts as gone
    }
    // A side spool replayed or discarded by the running agent while we list it is gone.
    if (ec == std::errc::no_such_file_or_directory) continue;
    if (ec) return Status::IoError("listing " + d.path.string() + ": " + ec.message());
    out.emplace_back(d.table, bytes);
  }
  return out;
}

Status HeldChanges::Append(std::uint32_t table, std::span<const spool::Record> records) {
  auto it = open_.find(table);
  if (it == open_.end())
    return Status::Internal("relation " + std::to_string(table) + " is not held");
  Status s = it->second.writer->AppendGroup(records).status().WithContext(
      "holding changes of relation " + std::to_string(table) + " in " + it->second.dir +
      " (a side spool without a disk budget: free space there)");
  UpdateBytes();
  return s;
}

Status HeldChanges::SyncAll() {
  for (auto& [table, h] : open_) {
    PG2BQ_RETURN_IF_ERROR(h.writer->Sync().WithContext("syncing held changes in " + h.dir));
  }
  return Status::Ok();
}

Status HeldChanges::Replay(std::uint32_t table, spool::SpoolWriter* main,
                           std::size_t max_group_bytes, const std::function<void()>& waiting,
                           const Cancellation* cancel) {
  auto it = open_.find(table);
  if (it == open_.end())
    return Status::Internal("relation " + std::to_string(table) + " is not held");
  Held& h = it->second;
  PG2BQ_RETURN_IF_ERROR(h.writer->Sync().WithContext("syncing held changes in " + h.dir));
  PG2BQ_ASSIGN_OR_RETURN(
      auto reader, spool::SpoolReader::Open(h.dir, h.writer->start_position(), h.writer->tail()));
  std::vector<spool::Record> group;
  std::size_t group_bytes = 0;
  std::uint64_t records = 0, rows = 0;
  auto append = [&]() -> Status {
    if (group.empty()) return Status::Ok();
    for (;;) {
      auto pos = main->AppendGroup(group);
      if (pos.ok()) break;
      if (pos.status().code() != Status::Code::kResourceExhausted) return pos.status();
      if (waiting) waiting();
      if (cancel != nullptr && cancel->cancelled())
        return Status::Aborted("cancelled while replaying held changes");
    }
    group.clear();
    group_bytes = 0;
    if (waiting) waiting();
    return Status::Ok();
  };
  for (;;) {
    auto next = reader->Next();
    if (!next.ok()) return next.status().WithContext("reading held changes in " + h.dir);
    if (!next->has_value()) break;
    spool::Record r = std::move((*next)->record);
    if (auto* b = std::get_if<spool::RowBatch>(&r)) {
      b->complete_through_lsn = kInvalidLsn;
      rows += b->row_count;
    }
    group_bytes += RecordBytes(r);
    group.push_back(std::move(r));
    ++records;
    if (group_bytes >= max_group_bytes) PG2BQ_RETURN_IF_ERROR(append());
  }
  PG2BQ_RETURN_IF_ERROR(append());
  PG2BQ_RETURN_IF_ERROR(main->Sync());
  // Only once the main spool holds them durably: the slot may already be past them.
  PG2BQ_RETURN_IF_ERROR(h.writer->Close());
  reader.reset();
  const std::string dir = h.dir;
  open_.erase(it);
  UpdateBytes();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (ec) return Status::IoError("removing replayed held changes " + dir + ": " + ec.message());
  // A removal undone by a power loss would replay these again at the next start, behind
  // newer changes of the table.
  PG2BQ_RETURN_IF_ERROR(spool::SyncDir(dir_));
  spdlog::info("relation {}: {} held record(s) ({} rows) moved behind its copy", table, records,
               rows);
  return Status::Ok();
}

std::vector<std::uint32_t> HeldChanges::OpenTables() const {
  std::vector<std::uint32_t> out;
  for (const auto& [table, held] : open_)
    out.push_back(table);
  return out;
}

Status HeldChanges::Discard(std::uint32_t table) {
  if (auto it = open_.find(table); it != open_.end()) {
    Status closed = it->second.writer->Close();
    if (!closed.ok()) spdlog::warn("closing {}: {}", it->second.dir, closed.ToString());
    open_.erase(it);
    UpdateBytes();
  }
  PG2BQ_ASSIGN_OR_RETURN(auto on_disk, OnDisk());
  for (const auto& [oid, lsn] : on_disk) {
    if (oid != table) continue;
    const std::string dir = DirFor(oid, lsn);
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    if (ec) return Status::IoError("removing held changes " + dir + ": " + ec.message());
    spdlog::info("relation {}: held changes from {} discarded ({})", oid, FormatLsn(lsn), dir);
  }
  return Status::Ok();
}

Status HeldChanges::CloseAll() {
  Status result = Status::Ok();
  for (auto& [table, h] : open_) {
    Status s = h.writer->Close();
    if (!s.ok() && result.ok()) result = s.WithContext("closing held changes in " + h.dir);
  }
  open_.clear();
  UpdateBytes();
  return result;
}

}  // namespace pg2bq::agent::snapshot
