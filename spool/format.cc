#include "spool/format.h"

#include <algorithm>
#include <cstring>

#include "common/crc32c.h"

namespace pg2bq::spool {
namespace {

// Meta block sizes, fixed per type in format version 1.
constexpr std::size_t kRowBatchMeta = 48;
constexpr std::size_t kDescriptorMeta = 24;
constexpr std::size_t kTxnCommitMeta = 24;
constexpr std::size_t kTxnAbortMeta = 16;
constexpr std::size_t kSnapshotMeta = 24;

std::size_t MetaSizeOf(RecordType type) {
  switch (type) {
    case RecordType::kRowBatch:
      return kRowBatchMeta;
    case RecordType::kDescriptorVersion:
      return kDescriptorMeta;
    case RecordType::kTxnCommit:
      return kTxnCommitMeta;
    case RecordType::kTxnAbort:
      return kTxnAbortMeta;
    case RecordType::kSnapshotMarker:
      return kSnapshotMeta;
  }
  return 0;
}

bool KnownType(std::uint8_t t) {
  return t >= 1 && t <= 5;
}

bool HasPayload(RecordType type) {
  return type == RecordType::kRowBatch || type == RecordType::kDescriptorVersion ||
         type == RecordType::kSnapshotMarker;
}

bool AllZero(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == 0; });
}

// Builds meta (with the raw payload size filled in) for a record.
void EncodeMeta(const Record& record, std::uint32_t raw_size, std::string* meta) {
  std::visit(
      [&](const auto& r) {
        using T = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<T, RowBatch>) {
          PutFixed32(meta, r.table_id);
          PutFixed32(meta, r.descriptor_version);
          PutFixed32(meta, r.row_count);
          PutFixed32(meta, raw_size);
          PutFixed64(meta, r.first_commit_lsn);
          PutFixed64(meta, r.last_commit_lsn);
          PutFixed64(meta, r.complete_through_lsn);
          PutFixed32(meta, r.xid);
          PutFixed32(meta, r.subxid);
        } else if constexpr (std::is_same_v<T, DescriptorVersion>) {
          PutFixed32(meta, r.table_id);
          PutFixed32(meta, r.version);
          PutFixed32(meta, raw_size);
          PutFixed32(meta, 0);
          PutFixed64(meta, r.lsn);
        } else if constexpr (std::is_same_v<T, TxnCommit>) {
          PutFixed32(meta, r.xid);
          PutFixed32(meta, 0);
          PutFixed64(meta, r.commit_lsn);
          PutFixed64(meta, r.end_lsn);
        } else if constexpr (std::is_same_v<T, TxnAbort>) {
          PutFixed32(meta, r.xid);
          PutFixed32(meta, r.subxid);
          PutFixed64(meta, r.abort_lsn);
        } else {
          PutFixed32(meta, r.table_id);
          PutFixed32(meta, static_cast<std::uint32_t>(r.kind));
          PutFixed64(meta, r.snapshot_lsn);
          PutFixed32(meta, raw_size);
          PutFixed32(meta, 0);
        }
      },
      record);
}

std::string_view PayloadOf(const Record& record) {
  if (auto* b = std::get_if<RowBatch>(&record)) return b->rows;
  if (auto* d = std::get_if<DescriptorVersion>(&record)) return d->descriptor;
  if (auto* s = std::get_if<SnapshotMarker>(&record)) return s->detail;
  return {};
}

}  // namespace

void PutFixed32(std::string* out, std::uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i)
    b[i] = static_cast<char>((v >> (8 * i)) & 0xffu);
  out->append(b, 4);
}

void PutFixed64(std::string* out, std::uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i)
    b[i] = static_cast<char>((v >> (8 * i)) & 0xffu);
  out->append(b, 8);
}

std::uint32_t DecodeFixed32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<std::uint32_t>(u[0]) | (static_cast<std::uint32_t>(u[1]) << 8) |
         (static_cast<std::uint32_t>(u[2]) << 16) | (static_cast<std::uint32_t>(u[3]) << 24);
}

std::uint64_t DecodeFixed64(const char* p) {
  return static_cast<std::uint64_t>(DecodeFixed32(p)) |
         (static_cast<std::uint64_t>(DecodeFixed32(p + 4)) << 32);
}

std::string EncodeSegmentHeader(const SegmentHeader& header) {
  std::string out(kSegmentMagic, sizeof(kSegmentMagic));
  PutFixed32(&out, kFormatVersion);
  PutFixed32(&out, 0);  // flags, none defined
  PutFixed64(&out, header.sequence);
  PutFixed64(&out, header.prior_lsn);
  PutFixed32(&out, crc32c::Mask(crc32c::Value(out.data(), out.size())));
  PutFixed32(&out, 0);  // padding to 8-byte alignment of the first frame
  return out;
}

Result<SegmentHeader> DecodeSegmentHeader(std::string_view bytes, std::string_view where) {
  std::string at(where);
  if (bytes.size() < kSegmentHeaderSize) {
    return Status::Corruption(at + ": segment header truncated (" + std::to_string(bytes.size()) +
                              " of " + std::to_string(kSegmentHeaderSize) + " bytes)");
  }
  if (std::memcmp(bytes.data(), kSegmentMagic, sizeof(kSegmentMagic)) != 0) {
    return Status::Corruption(at + ": not a pg2bq spool segment (bad magic)");
  }
  std::uint32_t stored = crc32c::Unmask(DecodeFixed32(bytes.data() + 32));
  if (stored != crc32c::Value(bytes.data(), 32)) {
    return Status::Corruption(at + ": segment header checksum mismatch");
  }
  std::uint32_t version = DecodeFixed32(bytes.data() + 8);
  if (version != kFormatVersion) {
    return Status::Corruption(at + ": segment format version " + std::to_string(version) +
                              " (this build reads version " + std::to_string(kFormatVersion) + ")");
  }
  SegmentHeader h;
  h.sequence = DecodeFixed64(bytes.data() + 16);
  h.prior_lsn = DecodeFixed64(bytes.data() + 24);
  return h;
}

Status EncodeFrame(const Record& record, Compressor* compressor, std::string* out) {
  RecordType type = TypeOf(record);
  std::string_view payload = PayloadOf(record);
  if (payload.size() > kMaxFrameBody - 64) {
    return Status::InvalidArgument("spool record payload of " + std::to_string(payload.size()) +
                                   " bytes exceeds the " + std::to_string(kMaxFrameBody - 64) +
                                   "-byte limit");
  }
  const std::size_t start = out->size();
  out->append(kFrameHeaderSize, '\0');
  std::string meta;
  meta.reserve(48);
  EncodeMeta(record, static_cast<std::uint32_t>(payload.size()), &meta);
  out->append(meta);
  std::uint8_t flags = 0;
  if (payload.size() >= kMinCompressSize && compressor != nullptr) {
    const std::size_t before = out->size();
    PG2BQ_RETURN_IF_ERROR(compressor->Compress(payload, out));
    if (out->size() - before < payload.size()) {
      flags |= kFlagZstd;
    } else {
      out->resize(before);
      out->append(payload);
    }
  } else {
    out->append(payload);
  }
  const std::size_t body = out->size() - start - kFrameHeaderSize;
  char* h = out->data() + start;
  std::string fixed;
  PutFixed32(&fixed, static_cast<std::uint32_t>(body));
  fixed.push_back(static_cast<char>(type));
  fixed.push_back(static_cast<char>(flags));
  fixed.push_back(static_cast<char>(meta.size() & 0xff));
  fixed.push_back(static_cast<char>(meta.size() >> 8));
  PutFixed32(&fixed, 0);  // reserved
  std::memcpy(h + 4, fixed.data(), 12);
  std::uint32_t crc = crc32c::Value(h + 4, 12 + body);
  std::string c;
  PutFixed32(&c, crc32c::Mask(crc));
  std::memcpy(h, c.data(), 4);
  return Status::Ok();
}

const char* FrameStatusName(FrameStatus status) {
  switch (status) {
    case FrameStatus::kOk:
      return "ok";
    case FrameStatus::kEnd:
      return "end";
    case FrameStatus::kZeroFilled:
      return "zero-filled tail";
    case FrameStatus::kTruncatedHeader:
      return "truncated frame header";
    case FrameStatus::kTruncatedRecord:
      return "truncated record";
    case FrameStatus::kBadLength:
      return "impossible frame length";
    case FrameStatus::kBadChecksum:
      return "checksum mismatch";
    case FrameStatus::kBadType:
      return "unknown record type or flags";
  }
  return "?";
}

FrameStatus ParseFrame(std::string_view avail, FrameView* out) {
  if (avail.empty()) return FrameStatus::kEnd;
  if (avail.size() < kFrameHeaderSize) {
    return AllZero(avail) ? FrameStatus::kZeroFilled : FrameStatus::kTruncatedHeader;
  }
  const char* h = avail.data();
  const std::uint32_t length = DecodeFixed32(h + 4);
  if (length == 0 && AllZero(avail.substr(0, kFrameHeaderSize)) && AllZero(avail)) {
    return FrameStatus::kZeroFilled;
  }
  const std::uint8_t type = static_cast<std::uint8_t>(h[8]);
  const std::uint8_t flags = static_cast<std::uint8_t>(h[9]);
  const std::size_t meta_size = static_cast<unsigned char>(h[10]) |
                                (static_cast<std::size_t>(static_cast<unsigned char>(h[11])) << 8);
  if (length > kMaxFrameBody || meta_size > length) return FrameStatus::kBadLength;
  if (avail.size() - kFrameHeaderSize < length) return FrameStatus::kTruncatedRecord;
  const std::uint32_t stored = crc32c::Unmask(DecodeFixed32(h));
  if (stored != crc32c::Value(h + 4, 12 + length)) return FrameStatus::kBadChecksum;
  if (!KnownType(type) || (flags & ~kFlagZstd) != 0 ||
      meta_size != MetaSizeOf(static_cast<RecordType>(type)) || DecodeFixed32(h + 12) != 0) {
    return FrameStatus::kBadType;
  }
  out->type = static_cast<RecordType>(type);
  out->flags = flags;
  out->meta = avail.substr(kFrameHeaderSize, meta_size);
  out->payload = avail.substr(kFrameHeaderSize + meta_size, length - meta_size);
  out->frame_size = kFrameHeaderSize + length;
  return FrameStatus::kOk;
}

Result<FrameSummary> SummarizeFrame(const FrameView& frame) {
  const char* m = frame.meta.data();
  FrameSummary s;
  s.type = frame.type;
  switch (frame.type) {
    case RecordType::kRowBatch:
      s.table_id = DecodeFixed32(m);
      s.row_count = DecodeFixed32(m + 8);
      s.raw_payload_size = DecodeFixed32(m + 12);
      s.first_lsn = DecodeFixed64(m + 16);
      s.last_lsn = DecodeFixed64(m + 24);
      s.complete_through_lsn = DecodeFixed64(m + 32);
      s.xid = DecodeFixed32(m + 40);
      s.subxid = DecodeFixed32(m + 44);
      break;
    case RecordType::kDescriptorVersion:
      s.table_id = DecodeFixed32(m);
      s.raw_payload_size = DecodeFixed32(m + 8);
      s.first_lsn = s.last_lsn = DecodeFixed64(m + 16);
      break;
    case RecordType::kTxnCommit:
      s.xid = DecodeFixed32(m);
      s.first_lsn = s.last_lsn = s.complete_through_lsn = DecodeFixed64(m + 8);
      break;
    case RecordType::kTxnAbort:
      s.xid = DecodeFixed32(m);
      s.subxid = DecodeFixed32(m + 4);
      s.first_lsn = s.last_lsn = DecodeFixed64(m + 8);
      break;
    case RecordType::kSnapshotMarker:
      s.table_id = DecodeFixed32(m);
      s.first_lsn = s.last_lsn = DecodeFixed64(m + 8);
      s.raw_payload_size = DecodeFixed32(m + 16);
      break;
  }
  if (!HasPayload(frame.type) && !frame.payload.empty()) {
    return Status::Corruption(std::string(RecordTypeName(frame.type)) +
                              " record carries an unexpected payload");
  }
  if ((frame.flags & kFlagZstd) == 0 && frame.payload.size() != s.raw_payload_size) {
    return Status::Corruption("uncompressed payload is " + std::to_string(frame.payload.size()) +
                              " bytes, record header says " + std::to_string(s.raw_payload_size));
  }
  if (s.raw_payload_size > kMaxFrameBody) {
    return Status::Corruption("payload size " + std::to_string(s.raw_payload_size) +
                              " above the format limit");
  }
  return s;
}

Result<Record> DecodeFrame(const FrameView& frame, Decompressor* decompressor) {
  PG2BQ_ASSIGN_OR_RETURN(FrameSummary s, SummarizeFrame(frame));
  std::string payload;
  if (frame.flags & kFlagZstd) {
    PG2BQ_RETURN_IF_ERROR(decompressor->Decompress(frame.payload, s.raw_payload_size, &payload));
  } else {
    payload.assign(frame.payload);
  }
  const char* m = frame.meta.data();
  switch (frame.type) {
    case RecordType::kRowBatch: {
      RowBatch b;
      b.table_id = s.table_id;
      b.descriptor_version = DecodeFixed32(m + 4);
      b.row_count = s.row_count;
      b.first_commit_lsn = s.first_lsn;
      b.last_commit_lsn = s.last_lsn;
      b.complete_through_lsn = s.complete_through_lsn;
      b.xid = s.xid;
      b.subxid = s.subxid;
      b.rows = std::move(payload);
      return Record(std::move(b));
    }
    case RecordType::kDescriptorVersion: {
      DescriptorVersion d;
      d.table_id = s.table_id;
      d.version = DecodeFixed32(m + 4);
      d.lsn = s.first_lsn;
      d.descriptor = std::move(payload);
      return Record(std::move(d));
    }
    case RecordType::kTxnCommit: {
      TxnCommit c;
      c.xid = s.xid;
      c.commit_lsn = s.first_lsn;
      c.end_lsn = DecodeFixed64(m + 16);
      return Record(c);
    }
    case RecordType::kTxnAbort: {
      TxnAbort a;
      a.xid = s.xid;
      a.subxid = s.subxid;
      a.abort_lsn = s.first_lsn;
      return Record(a);
    }
    case RecordType::kSnapshotMarker: {
      SnapshotMarker sm;
      sm.table_id = s.table_id;
      std::uint32_t kind = DecodeFixed32(m + 4);
      if (kind != 1 && kind != 2) {
        return Status::Corruption("snapshot marker kind " + std::to_string(kind) + " unknown");
      }
      sm.kind = static_cast<SnapshotMarker::Kind>(kind);
      sm.snapshot_lsn = s.first_lsn;
      sm.detail = std::move(payload);
      return Record(std::move(sm));
    }
  }
  return Status::Corruption("unknown record type");
}

}  // namespace pg2bq::spool
