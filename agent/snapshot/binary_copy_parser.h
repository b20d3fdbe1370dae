// Incremental parser of PostgreSQL's binary COPY format (`COPY ... TO STDOUT (FORMAT
// binary)`), as documented in the COPY reference page, "Binary Format":
//
//   header   : 11-byte signature "PGCOPY\n\377\r\n\0", int32 flags, int32 extension length,
//              extension bytes (skipped)
//   tuple    : int16 field count, then per field int32 length (-1 = NULL) and the bytes of
//              the type's send() form
//   trailer  : int16 -1
//
// The bytes come from the server in CopyData messages whose boundaries are not tuple
// boundaries in general, so the parser buffers: Feed() appends, Next() yields complete
// tuples. Every length is checked against what is buffered and against the expected
// field count, so corrupt or hostile input gives a Status naming the byte offset, never
// an out-of-bounds read.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace pg2bq::agent::snapshot {

struct CopyField {
  bool is_null = true;
  std::string_view bytes;  // valid until the next Feed()
};

class BinaryCopyParser {
 public:
  enum class Step : std::uint8_t {
    kTuple,     // *fields holds one tuple
    kNeedMore,  // feed more bytes
    kEnd,       // trailer seen; nothing may follow
  };

  // expected_fields: the column count the COPY selected; tuples with another count are
  // corruption. 0 = accept any count.
  explicit BinaryCopyParser(std::size_t expected_fields = 0) : expected_fields_(expected_fields) {}

  // Appends bytes. Invalidates views handed out by Next().
  void Feed(std::string_view bytes);
  // Parses the next tuple from buffered bytes.
  Result<Step> Next(std::vector<CopyField>* fields);
  // Call when the server says the COPY is complete: Ok only if the trailer was seen and
  // nothing is left over.
  Status Finish() const;

  std::uint64_t tuples() const { return tuples_; }
  std::uint64_t bytes_consumed() const { return consumed_base_ + pos_; }

 private:
  Status Error(std::string what) const;
  bool ParseHeader(Status* error);

  std::size_t expected_fields_;
  std::string buffer_;
  std::size_t pos_ = 0;              // parse position in buffer_
  std::uint64_t consumed_base_ = 0;  // bytes dropped from the front of buffer_
  bool header_done_ = false;
  bool ended_ = false;
  std::uint64_t tuples_ = 0;
};

}  // namespace pg2bq::agent::snapshot
