// TableSnapshot: copies one table inside an exported snapshot with a pool of workers (one
// connection each, all importing the snapshot), resuming from and recording its
// TableSyncState so that only chunks not yet durably in the spool are copied after a crash,
// and a table already `copied`/`ready` is not copied again.
//
// Spool records written, in order: SnapshotMarker{begin, snapshot LSN, snapshot name}, the
// chunks' RowBatches (interleaved, in whatever order workers finish them), then
// SnapshotMarker{end, hold_from_lsn} once every chunk is durable. A chunk is marked done in
// the state file only after the spool is synced, so a done chunk can never be lost.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "agent/cancellation.h"
#include "agent/snapshot/source_table.h"
#include "agent/snapshot/sync_state.h"
#include "agent/snapshot/table_copier.h"
#include "sink/encode_policies.h"
#include "sink/table_descriptor.h"
#include "spool/spool_writer.h"

namespace pg2bq::agent::snapshot {

// What a running copy reports every progress_interval and once at its end.
struct TableProgress {
  std::uint32_t relation_oid = 0;
  std::string table;           // schema.name
  std::uint64_t rows = 0;      // copied so far, including chunks of an earlier run
  std::uint64_t bytes = 0;     // binary COPY bytes received in this run
  double estimated_rows = -1;  // planner estimate (reltuples); -1 unknown
  double rows_per_second = 0;  // this run
  double eta_seconds = -1;     // -1 unknown
  std::size_t chunks_done = 0, chunks_total = 0;
  bool finished = false;
};

struct TableSnapshotOptions {
  std::string dsn;
  std::string snapshot_name;
  Lsn snapshot_lsn = kInvalidLsn;
  std::uint32_t workers = 2;
  // A table is split into about this many ctid chunks, but never below min_chunk_pages.
  std::uint32_t max_chunks = 64;
  std::uint64_t min_chunk_pages = 1024;  // 8 MiB of heap
  std::size_t batch_max_bytes = 4 << 20;
  sink::EncodePolicies policies;
  sink::DeadLetterWriter* dead_letters = nullptr;  // see TableCopierOptions
  std::chrono::milliseconds progress_interval{5000};
  // Called from the copying thread every progress_interval and when the copy ends (also
  // logged). May be empty.
  std::function<void(const TableProgress&)> on_progress;
  // Test hook: stop (as if killed) after this many chunks were marked done. 0 = never.
  std::uint32_t stop_after_chunks = 0;
};

struct TableSnapshotResult {
  bool skipped = false;  // already copied/ready
  std::uint64_t rows = 0, bytes = 0, rejected = 0;
  std::size_t chunks_copied = 0;
};

Result<TableSnapshotResult> CopyTable(const TableSnapshotOptions& options, const SourceTable& table,
                                      std::shared_ptr<const sink::TableDescriptor> descriptor,
                                      SyncStateStore* store, spool::SpoolWriter* spool,
                                      const Cancellation* cancel);

}  // namespace pg2bq::agent::snapshot
