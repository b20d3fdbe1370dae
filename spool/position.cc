#include "spool/position.h"

#include <cinttypes>
#include <cstdio>

namespace pg2bq::spool {

std::string Position::ToString() const {
  char buf[80];
  std::snprintf(buf, sizeof buf, "segment %016" PRIu64 " offset %" PRIu64, segment, offset);
  return buf;
}

}  // namespace pg2bq::spool
