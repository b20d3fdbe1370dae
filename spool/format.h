// The spool's on-disk format, version 1. Byte layout: docs/SPOOL_FORMAT.md.
//
// A segment file is a 40-byte header followed by frames. A frame is a 16-byte
// header (masked CRC32C, length, type, flags, meta length) and a body: a small
// uncompressed "meta" block of fixed fields, then the payload (zstd-compressed
// when the flag says so). Spill files of streamed transactions use the same layout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/lsn.h"
#include "common/status.h"
#include "spool/compression.h"
#include "spool/record.h"

namespace pg2bq::spool {

inline constexpr std::uint32_t kFormatVersion = 1;
inline constexpr char kSegmentMagic[8] = {'P', 'G', '2', 'B', 'Q', 'S', 'P', 'L'};
inline constexpr std::size_t kSegmentHeaderSize = 40;
inline constexpr std::size_t kFrameHeaderSize = 16;
// Upper bound of a frame body; larger lengths are treated as damage, never allocated.
inline constexpr std::uint32_t kMaxFrameBody = 256u << 20;
// Payloads shorter than this are stored uncompressed (zstd cannot win there).
inline constexpr std::size_t kMinCompressSize = 64;

inline constexpr std::uint8_t kFlagZstd = 0x01;

struct SegmentHeader {
  std::uint64_t sequence = 0;  // segment number (spill files: the xid)
  // Highest complete-through LSN of every record before this segment: keeps
  // durable_lsn() recoverable after older segments were checkpointed away.
  Lsn prior_lsn = kInvalidLsn;
};

std::string EncodeSegmentHeader(const SegmentHeader& header);
// `where` names the file in error messages.
Result<SegmentHeader> DecodeSegmentHeader(std::string_view bytes, std::string_view where);

// Serializes `record` as one complete frame, appended to *out. Payloads of at least
// kMinCompressSize bytes are zstd-compressed unless that does not make them smaller.
Status EncodeFrame(const Record& record, Compressor* compressor, std::string* out);

// A frame's parts, pointing into the parsed buffer.
struct FrameView {
  RecordType type{};
  std::uint8_t flags = 0;
  std::string_view meta;
  std::string_view payload;    // as stored (compressed if flags & kFlagZstd)
  std::size_t frame_size = 0;  // header + body
};

enum class FrameStatus {
  kOk,
  kEnd,              // no bytes left
  kZeroFilled,       // every remaining byte is zero (preallocated or torn tail)
  kTruncatedHeader,  // fewer than kFrameHeaderSize bytes left
  kTruncatedRecord,  // the header's length runs past the available bytes
  kBadLength,        // length above kMaxFrameBody or meta longer than the body
  kBadChecksum,
  kBadType,  // checksum fine but unknown type/flags/meta size: a newer or broken writer
};

const char* FrameStatusName(FrameStatus status);

// Parses the frame at the start of `avail` (every byte up to the end of the data).
FrameStatus ParseFrame(std::string_view avail, FrameView* out);

// Fields of a frame that can be read without decompressing the payload.
struct FrameSummary {
  RecordType type{};
  std::uint32_t table_id = 0;
  std::uint32_t xid = 0;     // row batch (streamed) / commit / abort
  std::uint32_t subxid = 0;  // row batch (streamed) / abort
  std::uint32_t row_count = 0;
  Lsn first_lsn = kInvalidLsn;  // row batch: first commit LSN; others: their LSN
  Lsn last_lsn = kInvalidLsn;
  Lsn complete_through_lsn = kInvalidLsn;
  std::uint64_t raw_payload_size = 0;
};

Result<FrameSummary> SummarizeFrame(const FrameView& frame);

// Decodes a frame fully (decompressing the payload).
Result<Record> DecodeFrame(const FrameView& frame, Decompressor* decompressor);

// Little-endian helpers shared by the format code.
void PutFixed32(std::string* out, std::uint32_t v);
void PutFixed64(std::string* out, std::uint64_t v);
std::uint32_t DecodeFixed32(const char* p);
std::uint64_t DecodeFixed64(const char* p);

}  // namespace pg2bq::spool
