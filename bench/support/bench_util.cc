#include "bench/support/bench_util.h"

#include <errno.h>

#include <cstdio>
#include <cstdlib>

namespace pg2bq::bench {

void Die(const std::string& msg) {
  std::fprintf(stderr, "%s: %s\n", program_invocation_short_name, msg.c_str());
  std::exit(1);
}

void Check(const Status& s, const std::string& what) {
  if (!s.ok()) Die(what + ": " + s.ToString());
}

}  // namespace pg2bq::bench
