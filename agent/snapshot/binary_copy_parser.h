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
// boundaries in general, so the parser buffers what a feed leaves of a partial tuple.
// PostgreSQL sends one tuple per CopyData message, though, so a feed that starts on a
// tuple boundary is parsed where it lies, without copying (libpq has copied it once
// already). Every length is checked against what is fed and against the expected field
// count, so corrupt or hostile input gives a Status naming the byte offset, never an
// out-of-bounds read.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace pg2bq::agent::snapshot {

struct CopyField {
  bool is_null = true;
  std::string_view bytes;  // valid until the next Feed() and while the fed bytes are
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

  // Hands the parser more bytes. They must stay valid until Next() has returned
  // something other than kTuple (kNeedMore, kEnd or an error): until then the parser may
  // read them in place. Invalidates views handed out by Next().
  void Feed(std::string_view bytes);
  // Parses the next tuple from the fed bytes. On kNeedMore the parser has copied what it
  // still needs of them (a partial tuple), so the caller may release them.
  Result<Step> Next(std::vector<CopyField>* fields);
  // Call when the server says the COPY is complete: Ok only if the trailer was seen and
  // nothing is left over.
  Status Finish() const;

  std::uint64_t tuples() const { return tuples_; }
  std::uint64_t bytes_consumed() const { return consumed_base_ + pos_; }

 private:
  Status Error(std::string what) const;
  bool ParseHeader(Status* error);
  Result<Step> Parse(std::vector<CopyField>* fields);

  // Stops reading the caller's bytes: keeps what is left of them in buffer_.
  void OwnRemainder();

  std::size_t expected_fields_;
  std::string buffer_;               // owned bytes: a partial tuple and what followed it
  std::string_view data_;            // what Next() parses: buffer_, or the caller's feed
  bool borrowed_ = false;            // data_ is the caller's feed, read in place
  std::size_t pos_ = 0;              // parse position in data_
  std::uint64_t consumed_base_ = 0;  // bytes dropped from the front of data_
  bool header_done_ = false;
  bool ended_ = false;
  std::uint64_t tuples_ = 0;
};

}  // namespace pg2bq::agent::snapshot
