// Runs the program under test (pg2bq, pg_recvlogical) as a child and measures it the
// way the benchmarks report it: wall time from the spawn, CPU and peak RSS from rusage.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "bench/support/bench_util.h"

namespace pg2bq::bench {

struct Child {
  pid_t pid = -1;
  std::string log;  // the child's stdout and stderr
  Clock::time_point start;
};

struct ChildResult {
  double wall_s = 0;  // spawn to exit
  double cpu_s = 0;   // user + system
  double max_rss_mib = 0;
  int exit_code = -1;  // -1: killed by a signal
};

// Starts args[0] (a path) with stdin on /dev/null and stdout + stderr into `log`
// (truncated). Dies when it cannot.
Child Spawn(std::vector<std::string> args, const std::string& log);

// Waits for the child. When `must_succeed` and it did not exit 0, dies with the tail of
// its log.
ChildResult Reap(const Child& c, bool must_succeed = true);

// The last `max_bytes` of a file ("" when it cannot be read).
std::string FileTail(const std::string& path, std::size_t max_bytes = 4000);

// CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat; -1 once
// it is gone. For processes that are not our children (a walsender).
double ProcCpuSeconds(int pid);

}  // namespace pg2bq::bench
