// `pg2bq config check`: loads the configuration exactly as `pg2bq run` will
// (file, PG2BQ_* environment, command line), reports every problem at once and
// prints the effective configuration with secrets redacted. Touches nothing:
// no connection, no file created.
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "agent/config.h"

namespace pg2bq::agent {
namespace {

void PrintUsage(std::FILE* out) {
  std::fprintf(
      out,
      "Usage: pg2bq config check [--config FILE] [--quiet] [--<section>.<key>=VALUE ...]\n\n"
      "Validates the configuration (file, then env PG2BQ_*, then the command line;\n"
      "the later wins) and prints the effective values with where each came from.\n"
      "Secrets are redacted. Exit status: 0 valid, 1 invalid, 2 usage error.\n\n"
      "Keys (docs/CONFIG.md):\n%s",
      ConfigKeysHelp().c_str());
}

}  // namespace

int RunConfigCommand(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    PrintUsage(args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  if (args[0] != "check") {
    std::fprintf(stderr, "pg2bq config: unknown verb '%s' (expected: check)\n", args[0].c_str());
    return 2;
  }
  args.erase(args.begin());
  bool quiet = false;
  ConfigInputs inputs;
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h") {
      PrintUsage(stdout);
      return 0;
    }
    if (a == "--quiet" || a == "-q") {
      quiet = true;
      continue;
    }
    inputs.args.push_back(a);
  }
  inputs.env = ProcessEnvironment();
  ConfigLoadResult loaded = LoadAgentConfig(inputs);
  for (const std::string& w : loaded.warnings)
    std::fprintf(stderr, "warning: %s\n", w.c_str());
  if (!loaded.ok()) {
    for (const std::string& p : loaded.problems)
      std::fprintf(stderr, "error: %s\n", p.c_str());
    std::fprintf(stderr, "pg2bq config: %zu problem%s; nothing was started\n",
                 loaded.problems.size(), loaded.problems.size() == 1 ? "" : "s");
    return 1;
  }
  if (!quiet) std::fputs(RenderEffectiveConfig(loaded.config).c_str(), stdout);
  std::fprintf(stderr, "configuration is valid\n");
  return 0;
}

}  // namespace pg2bq::agent
