// zstd compression of record payloads. Each object owns its zstd context and is
// used by one thread at a time.
#pragma once

#include <zstd.h>

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace pg2bq::spool {

class Compressor {
 public:
  explicit Compressor(int level);
  ~Compressor();
  Compressor(const Compressor&) = delete;
  Compressor& operator=(const Compressor&) = delete;

  // Appends the compressed form of `input` to *out.
  Status Compress(std::string_view input, std::string* out);
  int level() const { return level_; }

 private:
  ZSTD_CCtx* ctx_;
  int level_;
  // Compression target reused across calls: growing a std::string to
  // ZSTD_compressBound() for every record would zero-fill it every time.
  std::unique_ptr<char[]> scratch_;
  std::size_t scratch_size_ = 0;
};

class Decompressor {
 public:
  Decompressor();
  ~Decompressor();
  Decompressor(const Decompressor&) = delete;
  Decompressor& operator=(const Decompressor&) = delete;

  // Decompresses `input`, which must expand to exactly `raw_size` bytes, into *out.
  Status Decompress(std::string_view input, std::size_t raw_size, std::string* out);

 private:
  ZSTD_DCtx* ctx_;
};

}  // namespace pg2bq::spool
