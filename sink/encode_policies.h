// What the row encoder does with a value BigQuery cannot hold (docs/TYPE_MAPPING.md,
// "Value policies"). Every choice other than exact encoding is reported per row.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace pg2bq::sink {

enum class ValuePolicy : std::uint8_t {
  kReject,  // the row is not encoded; it goes to the dead-letter file with the reason
  kNull,    // the column is sent as NULL; reported as a lossy issue (value kept in the report)
  kClamp,   // infinities and time 24:00:00 only: BigQuery's min/max of the type
};

struct EncodePolicies {
  ValuePolicy numeric_special = ValuePolicy::kReject;       // NaN/±Infinity in NUMERIC columns
  ValuePolicy numeric_out_of_range = ValuePolicy::kReject;  // does not fit BIGNUMERIC/NUMERIC
  ValuePolicy infinity = ValuePolicy::kClamp;               // date/timestamp ±infinity
  ValuePolicy out_of_range = ValuePolicy::kReject;        // years outside 1..9999, 24:00, intervals
  ValuePolicy array_null_element = ValuePolicy::kReject;  // REPEATED columns
  ValuePolicy array_multidimensional = ValuePolicy::kReject;
  ValuePolicy invalid_utf8 = ValuePolicy::kReject;
  ValuePolicy invalid_value = ValuePolicy::kReject;  // text that does not parse as its type

  // Checks that kClamp is only used where it means something.
  Status Validate() const;
};

std::string_view ValuePolicyName(ValuePolicy p);
// "reject" | "null" | "clamp" (config files).
Result<ValuePolicy> ParseValuePolicy(std::string_view text);

}  // namespace pg2bq::sink
