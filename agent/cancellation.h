// The agent's threads use the project-wide Cancellation (common/cancellation.h).
#pragma once

#include "common/cancellation.h"

namespace pg2bq::agent {
using ::pg2bq::Cancellation;
}  // namespace pg2bq::agent
