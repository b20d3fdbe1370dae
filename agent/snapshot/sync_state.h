// Per-table snapshot sync state, persisted in <state_dir>/snapshot/<relation oid>.json and
// replaced atomically (write temp, fsync, rename, fsync dir) at every transition, like
// PostgreSQL's pg_subscription_rel states:
//
//   init     -> the table must be copied; nothing copied yet
//   copying  -> chunks planned; `done` says which chunks are durably in the spool
//   copied   -> every chunk is in the spool; streamed changes with commit LSN above
//               hold_from_lsn may be applied once BigQuery acknowledged the copy
//   ready    -> the copy is acknowledged; the table flows like any other
//
// A crash or SIGTERM in `copying` resumes with the chunks not yet done. Their exported
// snapshot died with its connection, so they are copied at a newer snapshot; that is
// correct for keyed tables because sequence numbers order everything (docs/SNAPSHOT.md,
// "Resuming at a newer snapshot") as long as the table's storage was not rewritten in
// between (VACUUM FULL, CLUSTER, ALTER TABLE moving rows change every ctid): the
// relfilenode is recorded and a changed one restarts the whole copy.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "agent/snapshot/table_copier.h"
#include "common/lsn.h"
#include "common/status.h"

namespace pg2bq::agent::snapshot {

enum class SyncPhase : std::uint8_t { kInit, kCopying, kCopied, kReady };
const char* SyncPhaseName(SyncPhase phase);

struct ChunkState {
  CopyChunk chunk;
  bool done = false;
  std::uint64_t rows = 0;
};

struct TableSyncState {
  std::uint32_t relation_oid = 0;
  std::string schema, table;
  SyncPhase phase = SyncPhase::kInit;
  std::uint32_t relfilenode = 0;  // storage the chunks' page ranges refer to
  // The oldest snapshot any done chunk was copied at: streamed changes above it must be
  // applied after the copy (held until then).
  Lsn hold_from_lsn = kInvalidLsn;
  std::vector<ChunkState> chunks;

  std::uint64_t RowsCopied() const;
  std::size_t ChunksDone() const;
  std::string ToJson() const;
  static Result<TableSyncState> FromJson(std::string_view text);
};

class SyncStateStore {
 public:
  explicit SyncStateStore(std::string dir) : dir_(std::move(dir)) {}

  // Creates the directory.
  Status Open();
  // NotFound when the table has no state (never snapshotted by this agent).
  Result<TableSyncState> Load(std::uint32_t relation_oid) const;
  Result<std::vector<TableSyncState>> LoadAll() const;
  Status Save(const TableSyncState& state) const;
  Status Remove(std::uint32_t relation_oid) const;

  // Re-sync requests (`pg2bq snapshot --table`): a file <oid>.resync next to the states, so
  // another process can ask the running agent without racing its state writes.
  Status RequestResync(std::uint32_t relation_oid) const;
  Result<std::vector<std::uint32_t>> ResyncRequests() const;
  Status ClearResync(std::uint32_t relation_oid) const;

 private:
  std::string PathFor(std::uint32_t relation_oid) const;
  std::string dir_;
};

}  // namespace pg2bq::agent::snapshot
