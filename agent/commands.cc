#include "agent/commands.h"

// Declarations of the sub-command entry points; each is defined in its own file.
namespace pg2bq::agent {
int RunStreamCommand(int argc, char** argv);    // stream_command.cc
int RunSpoolCommand(int argc, char** argv);     // spool_command.cc
int RunConfigCommand(int argc, char** argv);    // config_command.cc
int RunRunCommand(int argc, char** argv);       // run_command.cc
int RunVerifyCommand(int argc, char** argv);    // verify_command.cc
int RunStatusCommand(int argc, char** argv);    // status_command.cc
int RunSnapshotCommand(int argc, char** argv);  // snapshot_command.cc
}  // namespace pg2bq::agent

namespace pg2bq::agent {

// Add a line per sub-command.
const Command kCommands[] = {
    {"version", "print the version and exit", nullptr},
    {"stream", "consume a pgoutput slot and print each change as a JSON line (debugging)",
     RunStreamCommand},
    {"spool", "inspect or verify a spool directory (spool inspect|verify DIR)", RunSpoolCommand},
    {"config", "validate a configuration and print it, secrets redacted (config check)",
     RunConfigCommand},
    {"run", "replicate the published tables into BigQuery (the always-on agent)", RunRunCommand},
    {"verify", "compare each replicated table with its BigQuery copy; exit 1 on a difference",
     RunVerifyCommand},
    {"status", "spool, tables, dead letters, slot and live metrics of the agent", RunStatusCommand},
    {"snapshot", "table copy states, or request a re-sync of a table (snapshot --table S.T)",
     RunSnapshotCommand},
};
const int kCommandCount = sizeof(kCommands) / sizeof(kCommands[0]);

}  // namespace pg2bq::agent
