// BigQuery's _CHANGE_SEQUENCE_NUMBER: 1 to 4 sections of at most 16 hex digits
// separated by '/', compared section by section as unsigned numbers.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace pg2bq::bqemu {

class ChangeSequence {
 public:
  static Result<ChangeSequence> Parse(std::string_view text);
  // Parse's verdict and message without keeping the sections (no allocation).
  static Status Validate(std::string_view text);

  // <0, 0, >0. A shorter sequence compares as if padded with zero sections.
  int Compare(const ChangeSequence& other) const;

 private:
  // The one grammar: appends each section to *sections when it is not null.
  static Status Scan(std::string_view text, std::vector<uint64_t>* sections);

  std::vector<uint64_t> sections_;
};

}  // namespace pg2bq::bqemu
