#include "agent/logging.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <sstream>

namespace pg2bq::agent {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    out.push_back(line);
  return out;
}

TEST(LoggingTest, JsonLinesParseAndKeepTheMessage) {
  std::ostringstream out;
  auto logger = MakeLogger(LogFormat::kJson, spdlog::level::info,
                           std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  logger->info("table {} has \"quotes\", a back\\slash,\na newline and a tab\t", "public.t");
  logger->warn("bytes: {}", std::string("ok \x01 \xff\xfe \xc3\xa9 \xe2\x82\xac end"));
  logger->debug("below the level");
  logger->flush();
  std::vector<std::string> lines = Lines(out.str());
  ASSERT_EQ(lines.size(), 2u) << out.str();

  auto first = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(first["level"], "info");
  EXPECT_EQ(first["logger"], "pg2bq");
  EXPECT_EQ(first["msg"], "table public.t has \"quotes\", a back\\slash,\na newline and a tab\t");
  EXPECT_TRUE(first["thread"].is_number());
  EXPECT_THAT(first["ts"].get<std::string>(),
              MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z"));

  auto second = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(second["level"], "warning");
  // Control characters escaped; invalid UTF-8 replaced; valid multi-byte kept.
  EXPECT_EQ(second["msg"], "bytes: ok \x01 \xef\xbf\xbd\xef\xbf\xbd \xc3\xa9 \xe2\x82\xac end");
}

TEST(LoggingTest, TextFormatAndLevel) {
  std::ostringstream out;
  auto logger = MakeLogger(LogFormat::kText, spdlog::level::warn,
                           std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  logger->info("hidden");
  logger->error("spool dir {} is not writable", "/x");
  logger->flush();
  std::vector<std::string> lines = Lines(out.str());
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0],
              MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:.]+ UTC \\[error\\] spool dir "
                           "/x is not writable"));
}

TEST(LoggingTest, InstallReplacesTheDefaultLogger) {
  InstallLogging(LogFormat::kJson, spdlog::level::debug);
  EXPECT_EQ(spdlog::default_logger()->name(), "pg2bq");
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::debug);
  InstallLogging(LogFormat::kText, spdlog::level::err);  // reload
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::err);
}

}  // namespace
}  // namespace pg2bq::agent
