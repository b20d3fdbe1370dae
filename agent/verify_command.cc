// `pg2bq verify --config FILE`: compares the replicated tables with their BigQuery
// copies (agent/pipeline/verify.h). Exit status: 0 equal, 1 different, 2 error.
#include <cstdio>
#include <string>
#include <vector>

#include "agent/pipeline/target_setup.h"
#include "agent/pipeline/verify.h"

namespace pg2bq::agent {

int RunVerifyCommand(int argc, char** argv) {
  std::vector<std::string> args;
  pipeline::VerifyOptions options;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::printf(
          "usage: pg2bq verify --config FILE [--max-keys N] [--section.key=VALUE ...]\n\n"
          "Compares each replicated table with its BigQuery copy (row count, missing,\n"
          "extra and different keys, first N of each). Exit: 0 equal, 1 different, 2 error.\n");
      return 0;
    }
    if (a.rfind("--max-keys=", 0) == 0) {
      options.max_listed = std::stoul(a.substr(11));
      continue;
    }
    args.push_back(a);
  }
  auto config = pipeline::LoadConfigForCommand(args, "verify");
  if (!config) return 2;
  auto target = pipeline::MakeTargetSetup(*config);
  if (!target.ok()) {
    std::fprintf(stderr, "pg2bq verify: %s\n", target.status().ToString().c_str());
    return 2;
  }
  auto summary = pipeline::VerifyTables(*config, target->tables, options, stdout);
  if (!summary.ok()) {
    std::fprintf(stderr, "pg2bq verify: %s\n", summary.status().ToString().c_str());
    return 2;
  }
  std::printf(
      "%d table(s): %d equal, %d different, %d skipped\n", summary->tables, summary->tables_equal,
      summary->tables - summary->tables_equal - summary->tables_skipped, summary->tables_skipped);
  return summary->tables_equal + summary->tables_skipped == summary->tables ? 0 : 1;
}

}  // namespace pg2bq::agent
