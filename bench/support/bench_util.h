// What every benchmark program needs to stop on a setup failure and to time a phase.
// Benchmarks are programs, not libraries: a failed setup ends the run with a message
// naming the program and what failed.
#pragma once

#include <chrono>
#include <string>

#include "common/status.h"

namespace pg2bq::bench {

using Clock = std::chrono::steady_clock;

// Prints "<program>: <msg>" on stderr and exits 1.
[[noreturn]] void Die(const std::string& msg);
// Die(what + ": " + s) unless s is ok.
void Check(const Status& s, const std::string& what);

inline double Secs(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}
inline double SecsSince(Clock::time_point from) {
  return Secs(from, Clock::now());
}

}  // namespace pg2bq::bench
