// Verify: compares each replicated PostgreSQL table with its BigQuery copy (read over
// REST tabledata.list): row count, keys missing on either side, and per-key values.
//
// Values are compared for columns whose PostgreSQL text form and BigQuery's tabledata
// form coincide after a simple normalisation: integers, text types, uuid, bool, and
// NUMERIC compared numerically. Columns of other types are listed as "not compared"
// (their presence per key still is). Tables replicated as change logs are skipped.
#pragma once

#include <cstdio>
#include <string>

#include "agent/config.h"
#include "common/status.h"
#include "sink/table_manager.h"

namespace pg2bq::agent::pipeline {

struct VerifyOptions {
  std::size_t max_listed = 10;  // keys printed per category
};

struct VerifySummary {
  int tables = 0, tables_equal = 0, tables_skipped = 0;
};

// Prints a report to `out`. Ok with summary; a difference is not an error Status.
Result<VerifySummary> VerifyTables(const AgentConfig& config,
                                   const sink::TableManagerOptions& target,
                                   const VerifyOptions& options, std::FILE* out);

}  // namespace pg2bq::agent::pipeline
