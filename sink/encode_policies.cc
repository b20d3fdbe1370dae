#include "sink/encode_policies.h"

namespace pg2bq::sink {

Status EncodePolicies::Validate() const {
  struct Knob {
    const char* name;
    ValuePolicy value;
    bool clamp_ok;
  };
  const Knob knobs[] = {
      {"numeric_special", numeric_special, false},
      {"numeric_out_of_range", numeric_out_of_range, false},
      {"infinity", infinity, true},
      {"out_of_range", out_of_range, true},
      {"array_null_element", array_null_element, false},
      {"array_multidimensional", array_multidimensional, false},
      {"invalid_utf8", invalid_utf8, false},
      {"invalid_value", invalid_value, false},
  };
  for (const auto& k : knobs) {
    if (k.value == ValuePolicy::kClamp && !k.clamp_ok) {
      return Status::InvalidArgument(std::string("encode policy ") + k.name +
                                     "=clamp is not allowed: only reject or null");
    }
  }
  return Status::Ok();
}

std::string_view ValuePolicyName(ValuePolicy p) {
  switch (p) {
    case ValuePolicy::kReject:
      return "reject";
    case ValuePolicy::kNull:
      return "null";
    case ValuePolicy::kClamp:
      return "clamp";
  }
  return "reject";
}

Result<ValuePolicy> ParseValuePolicy(std::string_view text) {
  if (text == "reject") return ValuePolicy::kReject;
  if (text == "null") return ValuePolicy::kNull;
  if (text == "clamp") return ValuePolicy::kClamp;
  return Status::InvalidArgument("unknown value policy \"" + std::string(text) +
                                 "\": want reject, null or clamp");
}

}  // namespace pg2bq::sink
