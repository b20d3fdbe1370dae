#include "agent/replication_protocol.h"

#include <endian.h>

#include <chrono>
#include <cstring>

namespace pg2bq::agent {
namespace {

constexpr std::int64_t kPgEpochMicrosFromUnix = 946684800LL * 1000000;

// Network byte order. One load and a byte swap: this runs for every message received.
std::uint64_t ReadU64(const char* p) {
  std::uint64_t v = 0;
  std::memcpy(&v, p, sizeof(v));
  return be64toh(v);
}

void AppendU64(std::uint64_t v, std::string* out) {
  for (int i = 7; i >= 0; --i)
    out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

}  // namespace

std::int64_t PgNowMicros() {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  return std::chrono::duration_cast<std::chrono::microseconds>(now).count() -
         kPgEpochMicrosFromUnix;
}

Status ParseXLogData(std::string_view bytes, XLogData* out) {
  constexpr std::size_t kHeader = 1 + 8 + 8 + 8;
  if (bytes.size() < kHeader || bytes[0] != 'w') {
    return Status::Corruption("XLogData message of " + std::to_string(bytes.size()) +
                              " bytes: need at least 25 bytes starting with 'w'");
  }
  out->wal_start = ReadU64(bytes.data() + 1);
  out->wal_end = ReadU64(bytes.data() + 9);
  out->send_time = static_cast<std::int64_t>(ReadU64(bytes.data() + 17));
  out->payload = bytes.substr(kHeader);
  return Status::Ok();
}

Status ParsePrimaryKeepalive(std::string_view bytes, PrimaryKeepalive* out) {
  if (bytes.size() < 18 || bytes[0] != 'k') {
    return Status::Corruption("primary keepalive message of " + std::to_string(bytes.size()) +
                              " bytes: need 18 bytes starting with 'k'");
  }
  out->wal_end = ReadU64(bytes.data() + 1);
  out->send_time = static_cast<std::int64_t>(ReadU64(bytes.data() + 9));
  out->reply_requested = bytes[17] != 0;
  return Status::Ok();
}

std::string BuildStandbyStatusUpdate(Lsn written, Lsn flushed, Lsn applied, std::int64_t now_micros,
                                     bool reply_requested) {
  std::string out;
  out.reserve(34);
  out.push_back('r');
  AppendU64(written, &out);
  AppendU64(flushed, &out);
  AppendU64(applied, &out);
  AppendU64(static_cast<std::uint64_t>(now_micros), &out);
  out.push_back(reply_requested ? 1 : 0);
  return out;
}

}  // namespace pg2bq::agent
