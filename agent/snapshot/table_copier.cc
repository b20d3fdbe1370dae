#include "agent/snapshot/table_copier.h"

#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <thread>
#include <vector>

#include "agent/pg_connection.h"
#include "agent/snapshot/binary_copy_parser.h"
#include "sink/encoded_batch.h"
#include "sink/row_encoder.h"

namespace pg2bq::agent::snapshot {
namespace {
// PostgreSQL's FirstNormalObjectId: OIDs below it are assigned at initdb (built-in types).
constexpr std::uint32_t kFirstNormalObjectId = 16384;
}  // namespace

std::string CopyChunk::Predicate() const {
  std::string p = "ctid >= '(" + std::to_string(first_page) + ",0)'::tid";
  if (end_page != 0) p += " AND ctid < '(" + std::to_string(end_page) + ",0)'::tid";
  return p;
}

Lsn TableCopier::RowCommitLsn() const {
  if (options_.ctid_ordinals && options_.row_commit_lsn != kInvalidLsn)
    return options_.row_commit_lsn;
  return options_.snapshot_lsn - 1;
}

// A tid's binary form: block number (uint32) and line pointer offset (uint16), big-endian.
Result<std::uint64_t> TableCopier::CtidOrdinal(const CopyField& field) {
  if (field.is_null || field.bytes.size() != 6)
    return Status::Corruption("copy of " + options_.relation.schema + "." + options_.relation.name +
                              ": ctid is not a 6-byte tid");
  const auto* b = reinterpret_cast<const unsigned char*>(field.bytes.data());
  const std::uint64_t block =
      (std::uint64_t{b[0]} << 24) | (std::uint64_t{b[1]} << 16) | (std::uint64_t{b[2]} << 8) | b[3];
  const std::uint64_t offset = (std::uint64_t{b[4]} << 8) | b[5];
  return block * 65536 + offset;
}

TableCopier::TableCopier(TableCopierOptions options, spool::SpoolWriter* spool,
                         const Cancellation* cancel)
    : options_(std::move(options)), spool_(spool), cancel_(cancel) {}

std::string TableCopier::CopySql(const struct CopyChunk& chunk, const std::string& quoted_table,
                                 const std::string& quoted_columns) const {
  std::string where = chunk.Predicate();
  if (!options_.row_filter.empty()) where = "(" + options_.row_filter + ") AND " + where;
  return "COPY (SELECT " + quoted_columns + " FROM " + quoted_table + " WHERE " + where +
         ") TO STDOUT (FORMAT binary)";
}

Status TableCopier::AppendBatch(std::uint32_t rows, std::string* proto_rows) {
  if (rows == 0) return Status::Ok();
  spool::RowBatch rb;
  rb.table_id = options_.relation.oid;
  rb.descriptor_version = options_.descriptor->version;
  rb.row_count = rows;
  rb.first_commit_lsn = rb.last_commit_lsn = RowCommitLsn();
  // Copied rows complete no transaction of the stream: they must not move durable_lsn.
  rb.complete_through_lsn = kInvalidLsn;
  rb.rows = std::move(*proto_rows);
  PG2BQ_RETURN_IF_ERROR(AppendWhenSpoolHasRoom(spool_, rb, options_.budget_patience, cancel_));
  proto_rows->clear();
  return Status::Ok();
}

CopySession::CopySession(std::unique_ptr<PgConnection> conn) : conn_(std::move(conn)) {}
CopySession::~CopySession() = default;

Result<std::unique_ptr<CopySession>> CopySession::Open(const std::string& dsn,
                                                       const std::string& snapshot_name,
                                                       std::chrono::milliseconds io_timeout,
                                                       const Cancellation* cancel) {
  PG2BQ_ASSIGN_OR_RETURN(auto conn,
                         PgConnection::Connect(dsn, ConnectionKind::kNormal, io_timeout, cancel));
  auto exec = [&](const std::string& sql) -> Status {
    auto r = conn->Exec(sql, io_timeout, cancel);
    if (!r.ok()) return r.status().WithContext("snapshot " + snapshot_name);
    return Status::Ok();
  };
  PG2BQ_RETURN_IF_ERROR(exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
  PG2BQ_RETURN_IF_ERROR(exec("SET TRANSACTION SNAPSHOT " + conn->QuoteLiteral(snapshot_name)));
  return std::unique_ptr<CopySession>(new CopySession(std::move(conn)));
}

Result<std::unique_ptr<CopySession>> TableCopier::OpenSession() const {
  const std::string what = "copy of " + options_.relation.schema + "." + options_.relation.name;
  if (options_.snapshot_lsn == kInvalidLsn)
    return Status::InvalidArgument(what + ": no snapshot LSN");
  auto session =
      CopySession::Open(options_.dsn, options_.snapshot_name, options_.io_timeout, cancel_);
  if (!session.ok()) return session.status().WithContext(what);
  return session;
}

Status TableCopier::CopyChunk(const struct CopyChunk& chunk, CopyProgress* progress) {
  PG2BQ_ASSIGN_OR_RETURN(auto session, OpenSession());
  PG2BQ_RETURN_IF_ERROR(CopyChunk(chunk, session.get(), progress));
  auto r = session->connection()->Exec("COMMIT", options_.io_timeout, cancel_);
  return r.ok() ? Status::Ok() : r.status();
}

Status TableCopier::CopyChunk(const struct CopyChunk& chunk, CopySession* session,
                              CopyProgress* progress) {
  const auto& rel = options_.relation;
  const std::string what = rel.schema + "." + rel.name + " pages [" +
                           std::to_string(chunk.first_page) + "," +
                           (chunk.end_page ? std::to_string(chunk.end_page) : "end") + ")";
  if (options_.snapshot_lsn == kInvalidLsn)
    return Status::InvalidArgument("copy of " + what + ": no snapshot LSN");
  if (session->broken())
    return Status::FailedPrecondition("copy of " + what + ": its connection failed before");
  Status s = CopyChunkOn(chunk, what, session->connection(), progress);
  if (!s.ok()) session->MarkBroken();
  return s;
}

Status TableCopier::CopyChunkOn(const struct CopyChunk& chunk, const std::string& what,
                                PgConnection* conn, CopyProgress* progress) {
  const auto& rel = options_.relation;
  // Built-in types travel in their binary send() form, which the sink's decoder reads.
  // Types without a fixed OID (enums, domains, citext, hstore, arrays of them) have send()
  // forms it cannot know, so they are selected as text -- the form the stream delivers
  // them in too.
  // A keyless table's rows are told apart by their ctid (selected first).
  std::string columns = options_.ctid_ordinals ? "ctid" : "";
  const std::size_t first_column = options_.ctid_ordinals ? 1 : 0;
  std::vector<bool> as_text(rel.columns.size());
  for (std::size_t i = 0; i < rel.columns.size(); ++i) {
    const auto& c = rel.columns[i];
    if (!columns.empty()) columns += ", ";
    as_text[i] = c.type_oid >= kFirstNormalObjectId;
    columns += conn->QuoteIdentifier(c.name);
    if (as_text[i]) columns += "::text";
  }
  const std::string table =
      conn->QuoteIdentifier(rel.schema) + "." + conn->QuoteIdentifier(rel.name);
  const std::string sql = CopySql(chunk, table, columns);
  PGconn* pg = conn->raw();
  if (PQsendQuery(pg, sql.c_str()) != 1)
    return Status::Unavailable("copy of " + what + ": " + PQerrorMessage(pg));
  {
    // The COPY OUT result arrives first; wait for it without blocking forever.
    const auto deadline = std::chrono::steady_clock::now() + options_.io_timeout;
    while (true) {
      if (PQconsumeInput(pg) != 1)
        return Status::Unavailable("copy of " + what + ": " + PQerrorMessage(pg));
      if (!PQisBusy(pg)) break;
      PG2BQ_RETURN_IF_ERROR(conn->WaitSocket(false, deadline, cancel_));
    }
    PgResultPtr res(PQgetResult(pg));
    if (!res || PQresultStatus(res.get()) != PGRES_COPY_OUT) {
      std::string msg = res ? PQresultErrorMessage(res.get()) : PQerrorMessage(pg);
      while (PGresult* r = PQgetResult(pg))
        PQclear(r);
      return Status::FailedPrecondition("copy of " + what + ": " + msg);
    }
  }

  sink::RowEncoder encoder(options_.descriptor, options_.policies);
  sink::EncodedBatch batch;
  batch.descriptor_version = options_.descriptor->version;
  BinaryCopyParser parser(rel.columns.size() + first_column);
  std::vector<CopyField> fields;
  std::vector<sink::SourceValue> values(rel.columns.size());
  sink::SourceChange change;
  change.kind = sink::ChangeKind::kInsert;
  change.commit_lsn = RowCommitLsn();
  change.ordinal = 0;
  std::uint64_t rejected = 0;

  bool done = false;
  while (!done) {
    char* buf = nullptr;
    const int n = PQgetCopyData(pg, &buf, /*async=*/1);
    if (n > 0) {
      // The parser reads the message in place until it asks for more.
      const std::unique_ptr<char, decltype(&PQfreemem)> message(buf, &PQfreemem);
      parser.Feed(std::string_view(buf, static_cast<std::size_t>(n)));
      progress->bytes.fetch_add(static_cast<std::uint64_t>(n), std::memory_order_relaxed);
      while (true) {
        auto step = parser.Next(&fields);
        if (!step.ok())
          return Status::Corruption("copy of " + what + ": " + step.status().message());
        if (*step != BinaryCopyParser::Step::kTuple) break;
        if (options_.ctid_ordinals) {
          PG2BQ_ASSIGN_OR_RETURN(change.ordinal, CtidOrdinal(fields[0]));
        }
        for (std::size_t i = 0; i < values.size(); ++i) {
          const CopyField& f = fields[i + first_column];
          values[i] = f.is_null    ? sink::SourceValue::Null()
                      : as_text[i] ? sink::SourceValue::Text(f.bytes)
                                   : sink::SourceValue{sink::ValueState::kBinary, f.bytes};
        }
        change.new_values = values;
        auto r = encoder.Encode(change, &batch);
        if (r.outcome != sink::EncodeResult::Outcome::kEncoded) {
          if (options_.dead_letters == nullptr)
            return Status::FailedPrecondition("copy of " + what + ": row " +
                                              std::to_string(parser.tuples()) +
                                              " cannot be encoded: " + r.reason);
          sink::DeadLetter dl;
          dl.table = rel.schema + "." + rel.name;
          dl.commit_lsn = change.commit_lsn;
          dl.op = "SNAPSHOT";
          dl.source = "encoder";
          dl.reason = r.reason;
          PG2BQ_RETURN_IF_ERROR(options_.dead_letters->Append(dl));
          if (rejected++ == 0)
            spdlog::warn("copy of {}: row not representable, dead-lettered: {}", what, r.reason);
          progress->rejected.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        progress->rows.fetch_add(1, std::memory_order_relaxed);
        if (batch.proto_rows.size() >= options_.batch_max_bytes) {
          PG2BQ_RETURN_IF_ERROR(
              AppendBatch(static_cast<std::uint32_t>(batch.rows.size()), &batch.proto_rows));
          batch.rows.clear();
        }
      }
      continue;
    }
    if (n == 0) {  // nothing buffered: wait for the socket
      PG2BQ_RETURN_IF_ERROR(
          conn->WaitSocket(false, std::chrono::steady_clock::now() + options_.io_timeout, cancel_));
      if (PQconsumeInput(pg) != 1)
        return Status::Unavailable("copy of " + what + ": " + PQerrorMessage(pg));
      continue;
    }
    if (n == -2) return Status::Unavailable("copy of " + what + ": " + PQerrorMessage(pg));
    done = true;  // -1: COPY finished; its final result follows
  }
  PgResultPtr res(PQgetResult(pg));
  if (!res || PQresultStatus(res.get()) != PGRES_COMMAND_OK) {
    std::string msg = res ? PQresultErrorMessage(res.get()) : PQerrorMessage(pg);
    return Status::Unavailable("copy of " + what + ": " + msg);
  }
  while (PGresult* r = PQgetResult(pg))
    PQclear(r);
  PG2BQ_RETURN_IF_ERROR(parser.Finish());
  if (rejected != 0) PG2BQ_RETURN_IF_ERROR(options_.dead_letters->Sync());
  PG2BQ_RETURN_IF_ERROR(
      AppendBatch(static_cast<std::uint32_t>(batch.rows.size()), &batch.proto_rows));
  spdlog::debug("copied {}: {} rows, {} bytes", what, parser.tuples(), parser.bytes_consumed());
  return Status::Ok();
}

}  // namespace pg2bq::agent::snapshot
