// The streaming replication sub-protocol inside CopyBoth (PostgreSQL docs,
// "Streaming Replication Protocol"): XLogData and primary keepalive from the server,
// standby status update from the client. Pure byte handling, no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/lsn.h"
#include "common/status.h"

namespace pg2bq::agent {

// Microseconds since 2000-01-01 00:00 UTC, the server's clock format.
std::int64_t PgNowMicros();

struct XLogData {
  Lsn wal_start = kInvalidLsn;  // where this message's WAL record starts
  Lsn wal_end = kInvalidLsn;    // the server's current end of WAL
  std::int64_t send_time = 0;
  std::string_view payload;  // the pgoutput message
};

struct PrimaryKeepalive {
  Lsn wal_end = kInvalidLsn;
  std::int64_t send_time = 0;
  bool reply_requested = false;
};

// `bytes` is one CopyData body. Its first byte says which message it is ('w' / 'k').
Status ParseXLogData(std::string_view bytes, XLogData* out);
Status ParsePrimaryKeepalive(std::string_view bytes, PrimaryKeepalive* out);

// 'r' message: write/flush/apply positions, the client's clock, reply-requested flag.
std::string BuildStandbyStatusUpdate(Lsn written, Lsn flushed, Lsn applied, std::int64_t now_micros,
                                     bool reply_requested);

}  // namespace pg2bq::agent
