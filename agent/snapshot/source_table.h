// SourceTable: what the snapshot needs to know about a published table before copying it,
// read from the catalog inside the snapshot: its columns and key exactly as pgoutput will
// describe them (so the copy and the stream share one descriptor version), its size in
// pages (pg_relation_size: exact, unlike pg_class.relpages which stays 0 until the first
// VACUUM/ANALYZE) for chunking, and the planner's row estimate (reltuples) for progress.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "agent/pg_connection.h"
#include "agent/snapshot/table_copier.h"
#include "sink/source_relation.h"

namespace pg2bq::agent::snapshot {

struct SourceTable {
  sink::SourceRelation relation;
  std::uint64_t relpages = 0;     // main fork size / block size
  double reltuples = -1;          // -1: never analyzed
  std::uint32_t relfilenode = 0;  // changes when VACUUM FULL / CLUSTER rewrite the table
  // The publication's row filter (PostgreSQL 15 `WHERE (...)`), "" = every row. pgoutput
  // applies it to the stream; the copy must select the same rows.
  std::string row_filter;
};

// Columns: attnum > 0, not dropped, not generated (pgoutput skips generated columns), in
// attribute order. Key flags follow pgoutput: REPLICA IDENTITY DEFAULT -> primary key,
// INDEX -> the identity index, FULL -> every column, NOTHING -> none. With a `publication`
// that has a column list for the table, only its columns (as pgoutput's Relation message
// has them), and its row filter.
Result<SourceTable> LoadSourceTable(PgConnection* conn, const std::string& schema,
                                    const std::string& table, std::chrono::milliseconds timeout,
                                    const Cancellation* cancel,
                                    const std::string& publication = "");

// Splits [0, relpages) into about `chunks` page ranges; the last one is open-ended so pages
// added after the estimate are still copied. Always at least one chunk.
std::vector<CopyChunk> PlanChunks(std::uint64_t relpages, std::uint32_t chunks);

}  // namespace pg2bq::agent::snapshot
