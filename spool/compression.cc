#include "spool/compression.h"

#include <new>

namespace pg2bq::spool {

Compressor::Compressor(int level) : ctx_(ZSTD_createCCtx()), level_(level) {
  if (ctx_ == nullptr) throw std::bad_alloc();
  ZSTD_CCtx_setParameter(ctx_, ZSTD_c_compressionLevel, level_);
}

Compressor::~Compressor() {
  ZSTD_freeCCtx(ctx_);
}

Status Compressor::Compress(std::string_view input, std::string* out) {
  const std::size_t bound = ZSTD_compressBound(input.size());
  if (bound > scratch_size_) {
    scratch_ = std::make_unique_for_overwrite<char[]>(bound);
    scratch_size_ = bound;
  }
  std::size_t n = ZSTD_compress2(ctx_, scratch_.get(), bound, input.data(), input.size());
  if (ZSTD_isError(n)) {
    return Status::Internal(std::string("zstd compression failed: ") + ZSTD_getErrorName(n));
  }
  out->append(scratch_.get(), n);
  return Status::Ok();
}

Decompressor::Decompressor() : ctx_(ZSTD_createDCtx()) {
  if (ctx_ == nullptr) throw std::bad_alloc();
}

Decompressor::~Decompressor() {
  ZSTD_freeDCtx(ctx_);
}

Status Decompressor::Decompress(std::string_view input, std::size_t raw_size, std::string* out) {
  out->resize(raw_size);
  std::size_t n = ZSTD_decompressDCtx(ctx_, out->data(), raw_size, input.data(), input.size());
  if (ZSTD_isError(n)) {
    return Status::Corruption(std::string("zstd payload does not decompress: ") +
                              ZSTD_getErrorName(n));
  }
  if (n != raw_size) {
    return Status::Corruption("zstd payload expands to " + std::to_string(n) +
                              " bytes, record header says " + std::to_string(raw_size));
  }
  return Status::Ok();
}

}  // namespace pg2bq::spool
