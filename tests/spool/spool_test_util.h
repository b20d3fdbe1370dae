// Helpers shared by the spool tests: a temp directory and record builders.
#pragma once

#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "spool/file_util.h"
#include "spool/record.h"
#include "spool/spool_reader.h"
#include "spool/spool_writer.h"

namespace pg2bq::spool::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "pg2bq-spool-XXXXXX").string();
    char* p = ::mkdtemp(tmpl.data());
    if (p == nullptr) std::abort();
    root_ = p;
    spdlog::set_level(spdlog::level::warn);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  // The spool directory (not created: SpoolWriter creates it).
  std::string spool() const { return root_ + "/spool"; }
  std::string segment(std::uint64_t seq) const { return JoinPath(spool(), SegmentFileName(seq)); }

 private:
  std::string root_;
};

// Rows that compress like real encoded rows: structured, repetitive, some entropy.
inline std::string CompressibleRows(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out;
  while (out.size() < n) {
    out += "\x08" + std::to_string(rng() % 100000) + "\x12\x0bcustomer-" +
           std::to_string(rng() % 1000) + "\x1a\x05" + "12.50";
  }
  out.resize(n);
  return out;
}

inline std::string RandomBytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (auto& c : out)
    c = static_cast<char>(rng());
  return out;
}

inline RowBatch Batch(std::uint32_t table, Lsn lsn, std::string rows) {
  RowBatch b;
  b.table_id = table;
  b.descriptor_version = 1;
  b.row_count = 3;
  b.first_commit_lsn = lsn;
  b.last_commit_lsn = lsn;
  b.complete_through_lsn = lsn;
  b.rows = std::move(rows);
  return b;
}

inline SpoolOptions Options(const TempDir& dir, FsyncPolicy fsync = FsyncPolicy::kBatch) {
  SpoolOptions o;
  o.dir = dir.spool();
  o.fsync = fsync;
  o.batch_delay = std::chrono::milliseconds(2);
  return o;
}

// Every record readable from `from` without a tail.
inline std::vector<SpoolEntry> ReadAll(const std::string& dir, Position from = {}) {
  std::vector<SpoolEntry> out;
  auto reader = SpoolReader::Open(dir, from);
  if (!reader.ok()) return out;
  for (;;) {
    auto e = (*reader)->Next();
    if (!e.ok() || !e->has_value()) break;
    out.push_back(std::move(**e));
  }
  return out;
}

inline std::uint64_t FileSizeOf(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<std::uint64_t>(st.st_size);
}

}  // namespace pg2bq::spool::testing
