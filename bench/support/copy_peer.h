// The snapshot benchmarks' peer: one binary COPY read by libpq and discarded, which is
// what `COPY ... TO STDOUT (FORMAT binary)` into /dev/null costs without psql.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <string>

namespace pg2bq::bench {

struct CopyOutFigures {
  std::uint64_t bytes = 0;
  double seconds = 0;  // from sending the statement to the end of the data
};

// Runs `copy_statement` (a COPY ... TO STDOUT) on `conn`; dies on an error.
CopyOutFigures DiscardCopyOut(PGconn* conn, const std::string& copy_statement);

}  // namespace pg2bq::bench
