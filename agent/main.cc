// pg2bq: PostgreSQL -> BigQuery change-data-capture agent.
#include <cstdio>
#include <cstring>
#include <string_view>

#include "agent/commands.h"

namespace {

constexpr const char* kVersion = "0.1.0";

void PrintUsage(std::FILE* out) {
  std::fprintf(
      out,
      "pg2bq %s - keeps BigQuery tables equal to PostgreSQL tables (logical replication)\n\n"
      "Usage: pg2bq <command> [options]\n\nCommands:\n",
      kVersion);
  for (int i = 0; i < pg2bq::agent::kCommandCount; ++i) {
    std::fprintf(out, "  %-10s %s\n", pg2bq::agent::kCommands[i].name,
                 pg2bq::agent::kCommands[i].summary);
  }
  std::fprintf(out, "\nRun 'pg2bq <command> --help' for the options of a command.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    PrintUsage(stderr);
    return 2;
  }
  std::string_view cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    PrintUsage(stdout);
    return 0;
  }
  if (cmd == "version" || cmd == "--version") {
    std::printf("pg2bq %s\n", kVersion);
    return 0;
  }
  for (int i = 0; i < pg2bq::agent::kCommandCount; ++i) {
    const auto& c = pg2bq::agent::kCommands[i];
    if (cmd == c.name && c.run != nullptr) return c.run(argc - 1, argv + 1);
  }
  std::fprintf(stderr, "pg2bq: unknown command '%s'\n\n", argv[1]);
  PrintUsage(stderr);
  return 2;
}
