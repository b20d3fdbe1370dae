// Status and Result<T>: how every fallible call in pg2bq reports failure.
//
// Modelled on LevelDB's Status: a cheap success value, and on failure a code
// plus a message that names what failed and where (file, offset, LSN, table).
// Exceptions are not used across module boundaries; a Status travels up to the
// code that can decide (retry, quarantine, exit with a clear line).
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace pg2bq {

class Status {
 public:
  enum class Code : unsigned char {
    kOk = 0,
    kInvalidArgument,  // bad config or caller input
    kCorruption,       // bytes that do not parse or fail a checksum
    kNotFound,
    kIoError,          // the OS said no (disk full, permission, fsync failure)
    kUnavailable,      // a peer is unreachable or went away; retrying may help
    kAborted,          // cancelled by shutdown
    kPermissionDenied,
    kFailedPrecondition,  // the world is not in the state we need (wal_level, slot in use)
    kResourceExhausted,   // a budget is full (spool bytes)
    kInternal,
  };

  Status() = default;
  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string msg) { return {Code::kInvalidArgument, std::move(msg)}; }
  static Status Corruption(std::string msg) { return {Code::kCorruption, std::move(msg)}; }
  static Status NotFound(std::string msg) { return {Code::kNotFound, std::move(msg)}; }
  static Status IoError(std::string msg) { return {Code::kIoError, std::move(msg)}; }
  static Status Unavailable(std::string msg) { return {Code::kUnavailable, std::move(msg)}; }
  static Status Aborted(std::string msg) { return {Code::kAborted, std::move(msg)}; }
  static Status PermissionDenied(std::string msg) {
    return {Code::kPermissionDenied, std::move(msg)};
  }
  static Status FailedPrecondition(std::string msg) {
    return {Code::kFailedPrecondition, std::move(msg)};
  }
  static Status ResourceExhausted(std::string msg) {
    return {Code::kResourceExhausted, std::move(msg)};
  }
  static Status Internal(std::string msg) { return {Code::kInternal, std::move(msg)}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  bool IsUnavailable() const { return code_ == Code::kUnavailable; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }

  // "Corruption: segment 000001.seg offset 4096: bad checksum"
  std::string ToString() const;

  // Prefixes context ("while reading x: ") to a failure; no-op on success.
  Status WithContext(std::string_view context) const;

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

std::string_view StatusCodeName(Status::Code code);

// A value or the Status that explains why there is none.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(v_).ok() && "Result built from an OK status carries no value");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace pg2bq

// Returns early from the enclosing function when `expr` yields a failed Status.
#define PG2BQ_RETURN_IF_ERROR(expr)              \
  do {                                           \
    ::pg2bq::Status pg2bq_status__ = (expr);     \
    if (!pg2bq_status__.ok()) return pg2bq_status__; \
  } while (0)

#define PG2BQ_CONCAT_INNER_(a, b) a##b
#define PG2BQ_CONCAT_(a, b) PG2BQ_CONCAT_INNER_(a, b)
// PG2BQ_ASSIGN_OR_RETURN(auto x, MakeX()); moves the value out or returns the Status.
#define PG2BQ_ASSIGN_OR_RETURN(lhs, rexpr)                                  \
  auto PG2BQ_CONCAT_(pg2bq_result_, __LINE__) = (rexpr);                    \
  if (!PG2BQ_CONCAT_(pg2bq_result_, __LINE__).ok())                         \
    return PG2BQ_CONCAT_(pg2bq_result_, __LINE__).status();                 \
  lhs = std::move(PG2BQ_CONCAT_(pg2bq_result_, __LINE__)).value()
