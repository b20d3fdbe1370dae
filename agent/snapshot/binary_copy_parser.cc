#include "agent/snapshot/binary_copy_parser.h"

#include <algorithm>
#include <cstring>

#include "decoder/byte_reader.h"

namespace pg2bq::agent::snapshot {
namespace {

constexpr std::string_view kSignature("PGCOPY\n\377\r\n\0", 11);
constexpr std::size_t kHeaderFixed = 11 + 4 + 4;
// Flag bit 16 says every tuple carries an OID (WITH OIDS, gone since PostgreSQL 12);
// bits 17-31 are reserved "critical" bits a reader must reject when set.
constexpr std::uint32_t kOidsFlag = 1u << 16;
// A field larger than this cannot come from PostgreSQL (1 GB varlena limit).
constexpr std::int32_t kMaxFieldBytes = (1 << 30);

}  // namespace

void BinaryCopyParser::Feed(std::string_view bytes) {
  if (borrowed_) OwnRemainder();  // fed again before the last feed was parsed through
  if (pos_ == data_.size()) {
    // Nothing pending: read the new bytes where they are.
    consumed_base_ += pos_;
    buffer_.clear();
    data_ = bytes;
    pos_ = 0;
    borrowed_ = true;
    return;
  }
  // Drop consumed bytes before growing, so the buffer holds about one tuple plus one feed.
  if (pos_ >= (64u << 10)) {
    buffer_.erase(0, pos_);
    consumed_base_ += pos_;
    pos_ = 0;
  }
  buffer_.append(bytes);
  data_ = buffer_;
}

void BinaryCopyParser::OwnRemainder() {
  buffer_.assign(data_.substr(pos_));
  consumed_base_ += pos_;
  pos_ = 0;
  data_ = buffer_;
  borrowed_ = false;
}

Status BinaryCopyParser::Error(std::string what) const {
  return Status::Corruption("binary COPY data at byte " + std::to_string(bytes_consumed()) + ": " +
                            what);
}

bool BinaryCopyParser::ParseHeader(Status* error) {
  std::string_view data = data_.substr(pos_);
  const std::size_t check = std::min(data.size(), kSignature.size());
  if (data.substr(0, check) != kSignature.substr(0, check)) {
    *error = Error("bad signature (not binary COPY output)");
    return false;
  }
  if (data.size() < kHeaderFixed) return false;
  ByteReader reader(data.substr(kSignature.size()));
  std::uint32_t flags = 0, ext = 0;
  reader.ReadU32(&flags);
  reader.ReadU32(&ext);
  if (flags & kOidsFlag) {
    *error = Error("tuples carry OIDs (WITH OIDS is not supported)");
    return false;
  }
  if (flags & ~0xFFFFu) {
    *error = Error("unknown critical header flags " + std::to_string(flags));
    return false;
  }
  if (ext > static_cast<std::uint32_t>(kMaxFieldBytes)) {
    *error = Error("header extension length " + std::to_string(ext) + " is implausible");
    return false;
  }
  if (data.size() - kHeaderFixed < ext) return false;
  pos_ += kHeaderFixed + ext;
  header_done_ = true;
  return true;
}

Result<BinaryCopyParser::Step> BinaryCopyParser::Next(std::vector<CopyField>* fields) {
  auto step = Parse(fields);
  // The caller may release its bytes after anything but a tuple.
  if (borrowed_ && !(step.ok() && *step == Step::kTuple)) OwnRemainder();
  return step;
}

Result<BinaryCopyParser::Step> BinaryCopyParser::Parse(std::vector<CopyField>* fields) {
  if (!header_done_) {
    Status error;
    if (!ParseHeader(&error)) {
      if (!error.ok()) return error;
      return Step::kNeedMore;
    }
  }
  if (ended_) {
    if (pos_ != data_.size()) return Error("bytes after the trailer");
    return Step::kEnd;
  }
  ByteReader reader(data_.substr(pos_));
  std::int16_t count = 0;
  if (!reader.ReadI16(&count)) return Step::kNeedMore;
  if (count == -1) {
    pos_ += 2;
    ended_ = true;
    if (pos_ != data_.size()) return Error("bytes after the trailer");
    return Step::kEnd;
  }
  if (count < 0) return Error("negative field count " + std::to_string(count));
  if (expected_fields_ != 0 && static_cast<std::size_t>(count) != expected_fields_) {
    return Error("tuple has " + std::to_string(count) + " fields, expected " +
                 std::to_string(expected_fields_));
  }
  fields->resize(static_cast<std::size_t>(count));
  for (std::int16_t i = 0; i < count; ++i) {
    std::int32_t len = 0;
    if (!reader.ReadI32(&len)) return Step::kNeedMore;
    CopyField& field = (*fields)[static_cast<std::size_t>(i)];
    if (len == -1) {
      field = CopyField{};
      continue;
    }
    if (len < 0 || len > kMaxFieldBytes) {
      return Error("field " + std::to_string(i) + " has length " + std::to_string(len));
    }
    std::string_view bytes;
    if (!reader.ReadBytes(static_cast<std::size_t>(len), &bytes)) return Step::kNeedMore;
    field.is_null = false;
    field.bytes = bytes;
  }
  pos_ += reader.offset();
  ++tuples_;
  return Step::kTuple;
}

Status BinaryCopyParser::Finish() const {
  if (!header_done_) return Error("COPY ended before the header");
  if (!ended_) return Error("COPY ended without the trailer (truncated data)");
  if (pos_ != data_.size()) return Error("bytes after the trailer");
  return Status::Ok();
}

}  // namespace pg2bq::agent::snapshot
