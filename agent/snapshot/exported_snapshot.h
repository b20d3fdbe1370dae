// ExportedSnapshot: a logical replication slot created with an exported snapshot on a
// replication connection that this object keeps open, and idle, for as long as the
// snapshot is needed (the snapshot dies with the connection's first further command or
// its close).
//
//   CREATE_REPLICATION_SLOT name [TEMPORARY] LOGICAL pgoutput (SNAPSHOT 'export')
//
// The slot's consistent_point is the snapshot LSN: the snapshot sees exactly the
// transactions that committed before it, and the slot decodes every transaction that
// commits at or after it. First start creates the agent's own (permanent) slot this way;
// a table copied later (resumed after a crash, added to the publication, re-synced on
// demand) uses a TEMPORARY slot, which PostgreSQL drops when the connection closes.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "agent/cancellation.h"
#include "agent/pg_connection.h"
#include "common/lsn.h"
#include "common/status.h"

namespace pg2bq::agent::snapshot {

class ExportedSnapshot {
 public:
  // `timeout` bounds the creation, which waits for transactions running at that moment
  // to end (a long-running transaction on the source delays it).
  static Result<std::unique_ptr<ExportedSnapshot>> Create(const std::string& dsn,
                                                          const std::string& slot, bool temporary,
                                                          std::chrono::milliseconds timeout,
                                                          const Cancellation* cancel);
  ~ExportedSnapshot();

  const std::string& slot() const { return slot_; }
  const std::string& name() const { return name_; }  // for SET TRANSACTION SNAPSHOT
  Lsn lsn() const { return lsn_; }                   // the slot's consistent point
  bool temporary() const { return temporary_; }

  // Ends the snapshot (closes the connection; a temporary slot is dropped with it).
  void Release();

 private:
  ExportedSnapshot() = default;

  std::unique_ptr<PgConnection> conn_;
  std::string slot_, name_;
  Lsn lsn_ = kInvalidLsn;
  bool temporary_ = false;
};

}  // namespace pg2bq::agent::snapshot
