// Parses one pgoutput payload (the body of an XLogData message) into a
// PgoutputMessage, without copying.
//
// The parser is almost stateless: it only remembers whether it is inside a
// streamed block (Stream Start .. Stream Stop), because there change,
// Relation, Type and Message messages carry an extra leading xid.
#pragma once

#include <string_view>

#include "common/status.h"
#include "decoder/pgoutput_message.h"

namespace pg2bq {

class PgoutputParser {
 public:
  // Parses `payload` into *out. On failure the Status is Corruption and names
  // the message type and the byte offset inside the payload, e.g.
  // "pgoutput Update at byte 23: truncated tuple column 2 (need 10 bytes, 4 left)".
  // *out then holds partial data and must not be used.
  Status Parse(std::string_view payload, PgoutputMessage* out);

  bool in_streamed_block() const { return in_streamed_block_; }

 private:
  bool in_streamed_block_ = false;
};

}  // namespace pg2bq
