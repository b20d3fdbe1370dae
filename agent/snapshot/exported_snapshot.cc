#include "agent/snapshot/exported_snapshot.h"

#include <libpq-fe.h>
#include <spdlog/spdlog.h>

namespace pg2bq::agent::snapshot {

Result<std::unique_ptr<ExportedSnapshot>> ExportedSnapshot::Create(
    const std::string& dsn, const std::string& slot, bool temporary,
    std::chrono::milliseconds timeout, const Cancellation* cancel) {
  std::unique_ptr<ExportedSnapshot> s(new ExportedSnapshot());
  s->slot_ = slot;
  s->temporary_ = temporary;
  PG2BQ_ASSIGN_OR_RETURN(s->conn_,
                         PgConnection::Connect(dsn, ConnectionKind::kReplication, timeout, cancel));
  const std::string sql = "CREATE_REPLICATION_SLOT " + s->conn_->QuoteIdentifier(slot) +
                          (temporary ? " TEMPORARY" : "") + " LOGICAL pgoutput (SNAPSHOT 'export')";
  auto res = s->conn_->Exec(sql, timeout, cancel);
  if (!res.ok()) {
    return res.status().WithContext(std::string("creating ") + (temporary ? "temporary " : "") +
                                    "replication slot \"" + slot + "\" with an exported snapshot");
  }
  PGresult* r = res->get();
  if (PQntuples(r) != 1 || PQnfields(r) < 3 || PQgetisnull(r, 0, 2)) {
    return Status::Internal("CREATE_REPLICATION_SLOT " + slot +
                            " returned no exported snapshot at " + s->conn_->where());
  }
  auto lsn = ParseLsn(PQgetvalue(r, 0, 1));
  if (!lsn) {
    return Status::Internal(
        std::string("CREATE_REPLICATION_SLOT returned a bad consistent point '") +
        PQgetvalue(r, 0, 1) + "'");
  }
  s->lsn_ = *lsn;
  s->name_ = PQgetvalue(r, 0, 2);
  spdlog::info("{}slot {} created: snapshot {} at {}", temporary ? "temporary " : "", slot,
               s->name_, FormatLsn(s->lsn_));
  return s;
}

ExportedSnapshot::~ExportedSnapshot() {
  Release();
}

void ExportedSnapshot::Release() {
  conn_.reset();
}

}  // namespace pg2bq::agent::snapshot
