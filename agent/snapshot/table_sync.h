// TableSync: decides which tables `pg2bq run` copies, and when (docs/SNAPSHOT.md).
//
//   First start (the slot does not exist): the slot is created with an exported snapshot
//   and every selected published table is copied inside it.
//   Restart: tables whose copy did not finish (`init`/`copying`, resumed per chunk), tables
//   with a re-sync request (`pg2bq snapshot --table`) and published tables without any sync
//   state are copied at a temporary slot's exported snapshot.
//   While streaming (TableSyncHook, called by Capture in the reader thread): a table whose
//   Relation message arrives without a sync state, and every `poll_interval` the
//   publication's tables and re-sync requests, are copied the same way.
//
// Every copy runs in a background thread while the slot is read (at start too: Bootstrap
// starts it and returns the tables to hold before streaming begins). Hold-back: the table's
// changes committed before the copy's snapshot S are dropped by Capture (they are in the
// copy) and those after it are held in the table's side spool (HeldChanges) until the
// copy's end marker is in the spool; then the reader thread appends them behind it. So the
// flusher, which sends one table's records in spool order on one worker, never sends a
// streamed change of a table before its copied rows.
//
// `copied` -> `ready` when the flusher reports that the copy's end marker (and so every row
// before it) is acknowledged by BigQuery (OnCopyAcknowledged).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "agent/cancellation.h"
#include "agent/config.h"
#include "agent/pipeline/capture.h"
#include "agent/pipeline/descriptor_store.h"
#include "agent/pipeline/pipeline_metrics.h"
#include "agent/snapshot/exported_snapshot.h"
#include "agent/snapshot/held_changes.h"
#include "agent/snapshot/source_table.h"
#include "agent/snapshot/sync_state.h"
#include "agent/snapshot/table_snapshot.h"
#include "sink/dead_letter.h"
#include "sink/encode_policies.h"
#include "spool/spool_writer.h"

namespace pg2bq::agent::snapshot {

struct TableSyncOptions {
  std::string dsn;  // libpq conninfo of the source database
  std::string slot;
  std::string publication;
  bool create_slot = true;
  bool create_publication = false;
  TablesConfig tables;
  // snapshot.initial: copy tables pg2bq has not replicated yet (first start, tables added
  // later). Off: they start empty in BigQuery and only later changes arrive. Explicit
  // re-sync requests are honoured either way.
  bool copy = true;
  std::uint32_t workers = 4;  // chunk connections per table
  std::uint32_t max_chunks = 64;
  std::uint64_t min_chunk_pages = 1024;
  std::chrono::milliseconds poll_interval{10000};  // publication / re-sync request checks
  std::chrono::milliseconds progress_interval{5000};
  std::chrono::milliseconds timeout{600000};  // slot creation, catalog reads
  std::size_t batch_max_bytes = 4 << 20;
  sink::EncodePolicies policies;
  bool progress_bar = false;  // draw a progress bar on stderr (a terminal)
  // A fresh copy of a keyed table first deletes what the target holds of it from before
  // (a TRUNCATE just below the copy's rows; target.truncate = delete), so rows whose keys
  // the source no longer has do not outlive a re-sync or a copy that started over.
  bool clear_before_copy = true;
  // Where the side spools of held changes live (HeldChanges), e.g. <state_dir>/snapshot.
  std::string held_dir;
  // Their disk budget (snapshot.held_budget; 0 = none): HeldBudgetReached.
  std::uint64_t held_budget = 0;
};

class TableSync : public pipeline::TableSyncHook {
 public:
  TableSync(TableSyncOptions options, SyncStateStore* states,
            pipeline::DescriptorStore* descriptors, spool::SpoolWriter* spool,
            sink::DeadLetterWriter* dead_letters, pipeline::PipelineMetrics* metrics,
            const Cancellation* cancel);
  ~TableSync() override;

  // Before streaming starts: starts the first-start copy or the restart copies described
  // above in the background, and replays side spools of copies an earlier run finished.
  // Returns the tables Capture holds from its first change (CaptureOptions::at_start).
  Result<std::vector<pipeline::TableSyncChange>> Bootstrap();
  // Per table with a sync state: changes committed before this LSN are in its copy.
  std::unordered_map<Oid, Lsn> ApplyFrom() const;

  // The flusher acknowledged a copy's end marker (any thread).
  void OnCopyAcknowledged(std::uint32_t relation_oid, Lsn hold_from);

  // Waits for a background copy to end (it stops early once `cancel` is cancelled) and
  // closes the side spools. Call after the reader thread has ended, before the spool closes.
  void Stop();

  // Bytes of streamed changes held in side spools now (any thread).
  std::uint64_t held_bytes() const { return held_.bytes(); }

  // TableSyncHook (reader thread).
  bool NeedsCopy(Oid relation) override;
  Result<std::vector<pipeline::TableSyncChange>> CopyPending(
      const std::function<void()>& waiting) override;
  Status Hold(Oid relation, std::span<const spool::Record> records) override;
  Status SyncHeld() override;
  bool HeldBudgetReached() override {
    return options_.held_budget != 0 && held_.bytes() >= options_.held_budget;
  }

 private:
  struct Named {
    Oid oid = 0;
    std::string schema, name;
  };
  Result<bool> SlotExists();
  Status EnsurePublication();
  // The selected tables of the publication now.
  Result<std::vector<Named>> PublishedTables();
  // Tables that must be copied now, and clears their re-sync requests into fresh states.
  Result<std::vector<Named>> TablesToCopy(bool include_unknown);
  Result<std::vector<std::uint32_t>> ResyncRequestsSorted();
  // Copies `tables` at `snap` (catalog read inside the snapshot): one-chunk tables side by
  // side, larger ones one after the other with every worker.
  Status CopyTables(const ExportedSnapshot& snap, const std::vector<Named>& tables);
  // Side spools left by an earlier run: replayed behind a finished copy with the same
  // hold_from_lsn, discarded otherwise.
  Status ReplayOrDiscardHeld();
  // CopyPending: a finished background copy's tables, and starting the next copy.
  Status FinishBackgroundCopy(const std::function<void()>& waiting,
                              std::vector<pipeline::TableSyncChange>* out);
  // CopyPending while the copy runs: each table whose copy ended streams again at once,
  // without waiting for the other tables of the copy.
  Status ReleaseCopiedTables(const std::function<void()>& waiting,
                             std::vector<pipeline::TableSyncChange>* out);
  // A table of the copy with sync state `state`: when its copy is in the spool (end marker
  // durable), its held changes go behind it and `out` says it streams again. False when its
  // copy has not ended.
  Result<bool> ReleaseIfCopied(const Named& t, const TableSyncState& state,
                               const std::function<void()>& waiting,
                               std::vector<pipeline::TableSyncChange>* out);
  // A table whose copy failed stays held for the retry. One that has left the publication
  // (or the selection) meanwhile gets no retry: its held changes are deleted, its sync
  // state removed, and `out` says its changes are dropped until a copy of it (when it is
  // published again, as a table never seen; with copies off they apply again instead).
  Status DropAbandonedHolds(std::vector<pipeline::TableSyncChange>* out);
  // The tables to copy now, at a temporary slot's snapshot (none: nothing started).
  Status StartBackgroundCopy(std::vector<pipeline::TableSyncChange>* out);
  // Holds `tables` from `snap` (resumed copies from their first snapshot) and starts the copy
  // thread; `out` gets what Capture must do with each table's changes meanwhile.
  Status LaunchCopy(std::unique_ptr<ExportedSnapshot> snap, std::vector<Named> tables,
                    std::vector<pipeline::TableSyncChange>* out);
  Status CopyOne(const ExportedSnapshot& snap, const SourceTable& table, std::uint32_t workers);
  // Before a fresh copy of a keyed table: a TRUNCATE record ordered below its rows
  // (TableSyncOptions::clear_before_copy).
  Status ClearBeforeCopy(const ExportedSnapshot& snap, const sink::SourceRelation& rel,
                         const sink::TableDescriptor& d);
  Status MarkReady(std::uint32_t oid, Lsn hold_from);
  void ShowProgress(const TableProgress& p);

  TableSyncOptions options_;
  SyncStateStore* states_;
  pipeline::DescriptorStore* descriptors_;
  spool::SpoolWriter* spool_;
  sink::DeadLetterWriter* dead_letters_;
  pipeline::PipelineMetrics* metrics_;
  const Cancellation* cancel_;

  std::vector<Oid> requested_;  // met in a Relation message, to copy at the next CopyPending
  std::chrono::steady_clock::time_point next_poll_{};
  std::uint64_t temp_slots_ = 0;
  HeldChanges held_;  // reader thread (Bootstrap before it)

  // The copy running beside the stream (at most one; started by Bootstrap or the reader
  // thread). copy_status_ is written by the copy thread before copy_done_ is set, read by
  // the reader thread after it joined the thread.
  std::thread copy_thread_;
  std::atomic<bool> copy_done_{false};
  Status copy_status_;
  std::vector<Named> copy_tables_;  // reader thread: the copy's tables not released yet
  std::mutex finished_mu_;
  std::vector<Oid> finished_;  // copy thread: tables whose copy ended, for the reader

  std::mutex mu_;                        // states_ writes racing the flusher's callback
  std::set<std::uint32_t> copying_now_;  // CopyTable owns these tables' state files
  // End marker acknowledged while still copying: table -> the marker's hold_from.
  std::map<std::uint32_t, Lsn> acked_early_;
};

}  // namespace pg2bq::agent::snapshot
