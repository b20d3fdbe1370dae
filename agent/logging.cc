#include "agent/logging.h"

#include <fmt/format.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>

#include "common/json_string.h"

namespace pg2bq::agent {
namespace {

void Append(spdlog::memory_buf_t& out, std::string_view s) {
  out.append(s.data(), s.data() + s.size());
}

// JSON log fields: common/json_string.h, then into spdlog's buffer.
void AppendJsonString(std::string_view s, spdlog::memory_buf_t& out) {
  std::string quoted;
  ::pg2bq::AppendJsonString(s, &quoted);
  Append(out, quoted);
}

}  // namespace

void JsonLogFormatter::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
  using namespace std::chrono;
  auto since_epoch = msg.time.time_since_epoch();
  auto secs = duration_cast<seconds>(since_epoch);
  auto micros = duration_cast<microseconds>(since_epoch - secs).count();
  std::time_t t = static_cast<std::time_t>(secs.count());
  std::tm tm{};
  gmtime_r(&t, &tm);
  fmt::format_to(std::back_inserter(dest),
                 "{{\"ts\":\"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z\",\"level\":\"{}\","
                 "\"thread\":{},\"logger\":",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 micros, spdlog::level::to_string_view(msg.level), msg.thread_id);
  AppendJsonString(std::string_view(msg.logger_name.data(), msg.logger_name.size()), dest);
  Append(dest, ",\"msg\":");
  AppendJsonString(std::string_view(msg.payload.data(), msg.payload.size()), dest);
  Append(dest, "}\n");
}

std::unique_ptr<spdlog::formatter> JsonLogFormatter::clone() const {
  return std::make_unique<JsonLogFormatter>();
}

std::unique_ptr<spdlog::formatter> MakeLogFormatter(LogFormat format) {
  if (format == LogFormat::kJson) return std::make_unique<JsonLogFormatter>();
  return std::make_unique<spdlog::pattern_formatter>("%Y-%m-%d %H:%M:%S.%e UTC [%l] %v",
                                                     spdlog::pattern_time_type::utc);
}

std::shared_ptr<spdlog::logger> MakeLogger(LogFormat format, spdlog::level::level_enum level,
                                           spdlog::sink_ptr sink) {
  if (!sink) sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("pg2bq", std::move(sink));
  logger->set_formatter(MakeLogFormatter(format));
  logger->set_level(level);
  // Errors reach the terminal or journal at once even if the process dies next.
  logger->flush_on(spdlog::level::warn);
  return logger;
}

void InstallLogging(LogFormat format, spdlog::level::level_enum level) {
  spdlog::set_default_logger(MakeLogger(format, level));
}

}  // namespace pg2bq::agent
