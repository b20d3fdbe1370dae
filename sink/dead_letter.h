// Dead-letter file: one JSON object per line for each row BigQuery refused or the encoder
// could not represent, with the table, the row's LSN and the reason. Appended and fsynced
// before the rows it replaces are acknowledged, so nothing disappears silently.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "common/lsn.h"
#include "common/status.h"

namespace pg2bq::sink {

struct DeadLetter {
  std::string table;  // "project.dataset.table" or the PostgreSQL name
  Lsn commit_lsn = 0;
  std::uint64_t ordinal = 0;
  std::string op;              // UPSERT / DELETE / INSERT / ...
  std::string source;          // "bigquery" (row error) or "encoder" (policy)
  std::string reason;          // BigQuery's message or the policy's
  std::string_view row_bytes;  // the encoded row, stored base64 (may be empty)
  std::string row_text;        // optional human-readable values
};

class DeadLetterWriter {
 public:
  // The file is created (0640) on first write; its directory must exist.
  explicit DeadLetterWriter(std::string path) : path_(std::move(path)) {}
  ~DeadLetterWriter();
  DeadLetterWriter(const DeadLetterWriter&) = delete;
  DeadLetterWriter& operator=(const DeadLetterWriter&) = delete;

  Status Append(const DeadLetter& letter);  // buffered
  Status Sync();                            // write + fsync what was appended
  std::uint64_t count() const { return count_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
  std::string pending_;
  std::uint64_t count_ = 0;
  std::mutex mu_;
};

std::string Base64Encode(std::string_view bytes);

}  // namespace pg2bq::sink
