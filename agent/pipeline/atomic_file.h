// Small files replaced atomically (write temp, fsync, rename, fsync dir), for state
// that must be either the old or the new version after a crash.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace pg2bq::agent::pipeline {

Status WriteFileAtomically(const std::string& path, std::string_view content);
// NotFound when the file does not exist.
Result<std::string> ReadWholeFile(const std::string& path);

}  // namespace pg2bq::agent::pipeline
