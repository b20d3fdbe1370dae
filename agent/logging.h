// Logging setup: spdlog to stderr, as human-readable text or as JSON lines
// (one object per line: ts, level, thread, msg) for log collectors.
#pragma once

#include <spdlog/common.h>
#include <spdlog/formatter.h>
#include <spdlog/logger.h>

#include <memory>
#include <string>

#include "agent/config.h"

namespace pg2bq::agent {

// {"ts":"2026-11-21T20:10:26.123456Z","level":"info","thread":1234,"logger":"pg2bq","msg":"..."}
// Timestamps are UTC; the message is JSON-escaped (control characters as \u00XX,
// invalid UTF-8 bytes replaced by U+FFFD so every line parses).
class JsonLogFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
  std::unique_ptr<spdlog::formatter> clone() const override;
};

// Text lines: "2026-11-21 20:10:26.123 UTC [info] message".
std::unique_ptr<spdlog::formatter> MakeLogFormatter(LogFormat format);

// A logger named "pg2bq" writing to `sink` (stderr when null) in `format` at `level`.
std::shared_ptr<spdlog::logger> MakeLogger(LogFormat format, spdlog::level::level_enum level,
                                           spdlog::sink_ptr sink = nullptr);

// Makes that logger spdlog's default, so the modules' spdlog::info(...) calls use it.
// Called once by main at start-up and again on reload (level/format are reloadable).
void InstallLogging(LogFormat format, spdlog::level::level_enum level);

}  // namespace pg2bq::agent
