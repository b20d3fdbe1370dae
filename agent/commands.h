// Sub-commands of the pg2bq executable. Each lives in its own file and parses its
// own options (Boost.Program_options); argv[0] is the sub-command's name.
// Return value is the process exit code.
#pragma once

namespace pg2bq::agent {

struct Command {
  const char* name;     // e.g. "stream", or "spool" (which has its own sub-verbs)
  const char* summary;  // one line for `pg2bq --help`
  int (*run)(int argc, char** argv);
};

// Every sub-command, in the order `pg2bq --help` lists them. Defined in commands.cc.
extern const Command kCommands[];
extern const int kCommandCount;

}  // namespace pg2bq::agent
