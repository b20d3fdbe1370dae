#include "agent/commands.h"

// Declarations of the sub-command entry points; each is defined in its own file.
namespace pg2bq::agent {
}  // namespace pg2bq::agent

namespace pg2bq::agent {

// Add a line per sub-command.
const Command kCommands[] = {
    {"version", "print the version and exit", nullptr},
};
const int kCommandCount = sizeof(kCommands) / sizeof(kCommands[0]);

}  // namespace pg2bq::agent
