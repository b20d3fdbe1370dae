// HeldChanges: the streamed changes of tables whose snapshot copy runs while the slot keeps
// being read (docs/SNAPSHOT.md, "Hold-back"). Each held table has its own spool directory
// <dir>/held-<oid>-<hold_from as 16 hex digits> with its own SpoolWriter, outside the main
// spool (whose reader must not see these records) and never in memory. Once the table's
// copy is in the main spool, Replay appends the held records after it, in order.
//
// Used by one thread at a time: the reader thread while streaming, Bootstrap before it.
// The directory name records the snapshot the held changes follow, so a directory left by
// a crash is replayed only after a copy with the same hold_from_lsn, and discarded
// otherwise (a fresh copy at a later snapshot contains those changes).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "agent/cancellation.h"
#include "common/lsn.h"
#include "common/status.h"
#include "spool/options.h"
#include "spool/record.h"
#include "spool/spool_writer.h"

namespace pg2bq::agent::snapshot {

class HeldChanges {
 public:
  // `options` is the main spool's; dir and budget are replaced (held changes have no budget
  // of their own: TableSync stops Capture reading at snapshot.held_budget).
  HeldChanges(std::string dir, spool::SpoolOptions options);
  ~HeldChanges();

  // Side spools on disk (left by an earlier run, or open): table -> hold_from.
  Result<std::vector<std::pair<std::uint32_t, Lsn>>> OnDisk() const;

  // Whether `table` is held from `hold_from` (a side spool with that tag is on disk).
  bool Holds(std::uint32_t table, Lsn hold_from) const;
  // Opens (creating or recovering) the side spool of `table` tagged `hold_from`.
  Status Open(std::uint32_t table, Lsn hold_from);
  // Appends records of an open table; durable only after SyncAll.
  Status Append(std::uint32_t table, std::span<const spool::Record> records);
  // Makes every open side spool durable.
  Status SyncAll();
  // Appends the held records of `table` to `main` in order (RowBatches lose their
  // completion LSN: the main spool is already complete through them), syncs `main`, then
  // deletes the side spool. Groups of about `group_bytes` (at most what one append of the
  // main spool's budget allows: a larger group would never fit). `waiting` is called after
  // every group and while `main`'s budget is full (the caller keeps its replication
  // connection alive: a large replay outlasts wal_sender_timeout).
  Status Replay(std::uint32_t table, spool::SpoolWriter* main, std::size_t group_bytes,
                const std::function<void()>& waiting, const Cancellation* cancel);
  // Tables with an open side spool, in oid order.
  std::vector<std::uint32_t> OpenTables() const;
  // Deletes every side spool of `table` (open or not).
  Status Discard(std::uint32_t table);
  // Closes the open side spools (they stay on disk).
  Status CloseAll();

  // Bytes on disk of the open side spools (any thread; updated by the calls above). Side
  // spools have no spool budget: snapshot.held_budget bounds this (TableSync).
  std::uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  // Bytes on disk of every side spool under `dir` (e.g. for `pg2bq status`): table -> bytes.
  static Result<std::vector<std::pair<std::uint32_t, std::uint64_t>>> BytesOnDisk(
      const std::string& dir);

 private:
  struct Held {
    Lsn hold_from = kInvalidLsn;
    std::string dir;
    std::unique_ptr<spool::SpoolWriter> writer;
  };
  std::string DirFor(std::uint32_t table, Lsn hold_from) const;
  void UpdateBytes();

  const std::string dir_;
  spool::SpoolOptions options_;
  std::map<std::uint32_t, Held> open_;
  std::atomic<std::uint64_t> bytes_{0};
};

}  // namespace pg2bq::agent::snapshot
