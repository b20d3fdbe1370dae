// Blocking sink calls (backoff sleeps, stream reads via the watchdog) observe the
// project-wide Cancellation (common/cancellation.h).
#pragma once

#include "common/cancellation.h"

namespace pg2bq::sink {
using ::pg2bq::Cancellation;
}  // namespace pg2bq::sink
