#include "sink/dead_letter.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>

#include "sink/change_sequence.h"

namespace pg2bq::sink {

std::string Base64Encode(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const std::uint32_t v = (static_cast<std::uint8_t>(in[i]) << 16) |
                            (static_cast<std::uint8_t>(in[i + 1]) << 8) |
                            static_cast<std::uint8_t>(in[i + 2]);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  if (i < in.size()) {
    std::uint32_t v = static_cast<std::uint8_t>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<std::uint8_t>(in[i + 1]) << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

DeadLetterWriter::~DeadLetterWriter() {
  (void)Sync();
  if (fd_ >= 0) ::close(fd_);
}

Status DeadLetterWriter::Append(const DeadLetter& letter) {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  nlohmann::json j = {
      {"time_us", std::chrono::duration_cast<std::chrono::microseconds>(now).count()},
      {"table", letter.table},
      {"commit_lsn", FormatLsn(letter.commit_lsn)},
      {"change_sequence", FormatChangeSequence(letter.commit_lsn, letter.ordinal)},
      {"op", letter.op},
      {"source", letter.source},
      {"reason", letter.reason},
  };
  if (!letter.row_bytes.empty()) j["row_proto_base64"] = Base64Encode(letter.row_bytes);
  if (!letter.row_text.empty()) j["row"] = letter.row_text;
  std::lock_guard<std::mutex> lock(mu_);
  // Invalid UTF-8 in a reason must not make the record unwritable.
  pending_ += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  pending_.push_back('\n');
  ++count_;
  return Status::Ok();
}

Status DeadLetterWriter::Sync() {
  std::lock_guard<std::mutex> lock(mu_);
  if (pending_.empty()) return Status::Ok();
  if (fd_ < 0) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd_ < 0) {
      return Status::IoError("dead-letter file " + path_ + ": open: " + std::strerror(errno));
    }
  }
  std::size_t done = 0;
  while (done < pending_.size()) {
    const ssize_t n = ::write(fd_, pending_.data() + done, pending_.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::IoError("dead-letter file " + path_ + ": write: " + std::strerror(errno));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd_) != 0) {
    return Status::IoError("dead-letter file " + path_ + ": fsync: " + std::strerror(errno));
  }
  pending_.clear();
  return Status::Ok();
}

}  // namespace pg2bq::sink
