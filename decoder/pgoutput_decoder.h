// The pgoutput decoder: turns the stream of XLogData payloads of one
// replication connection into transactions and changes.
//
//   PgoutputDecoder decoder(&handler);
//   for each XLogData (wal_start, payload):
//     PG2BQ_RETURN_IF_ERROR(decoder.Decode(wal_start, payload));
//
// The decoder owns the relation cache and a type registry and tracks the
// open transaction. It calls the ChangeHandler synchronously; every view in
// the callback arguments (tuples, names, message content) points into the
// payload or into decoder-owned, reused storage and is valid only during the
// callback. Nothing is allocated per change or per column once warmed up.
//
// Streamed transactions (protocol >= 2, `streaming on`): their changes
// arrive in blocks between Stream Start and Stream Stop, possibly
// interleaved with other transactions, before the transaction's outcome is
// known. They are delivered with `streamed = true` and commit_lsn =
// kInvalidLsn; the caller must hold them (keyed by Change::xid) until
// OnStreamCommit (now the commit LSN is known) or discard them on
// OnStreamAbort (the whole transaction if subxid == xid, else only the
// changes whose Change::subxid == subxid). Ordinals of a streamed
// transaction count across all its blocks.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "decoder/pg_type.h"
#include "decoder/pgoutput_message.h"
#include "decoder/pgoutput_parser.h"
#include "decoder/relation_cache.h"

namespace pg2bq {

enum class ChangeKind : std::uint8_t { kInsert, kUpdate, kDelete, kTruncate, kMessage };
std::string_view ChangeKindName(ChangeKind kind);  // "insert", ...

struct Change {
  ChangeKind kind = ChangeKind::kInsert;
  // The changed relation (Truncate: one Change per truncated relation).
  // nullptr for kMessage. Keep `relation_ref` to hold it past the callback.
  const Relation* relation = nullptr;
  const std::shared_ptr<const Relation>* relation_ref = nullptr;

  Lsn lsn = kInvalidLsn;         // wal_start of the XLogData that carried it
  Lsn commit_lsn = kInvalidLsn;  // Begin's final_lsn; kInvalidLsn while streamed
  std::uint64_t ordinal = 0;     // 0-based position inside its top-level transaction
  Xid xid = kInvalidXid;         // top-level transaction (kInvalidXid: non-transactional message)
  Xid subxid = kInvalidXid;      // streamed: the (sub)transaction in the message; else == xid
  bool streamed = false;

  // Insert/Update: new row. Update/Delete: old image (kind says which).
  const TupleData* new_tuple = nullptr;
  OldTupleKind old_kind = OldTupleKind::kNone;
  const TupleData* old_tuple = nullptr;

  // Truncate.
  bool cascade = false;
  bool restart_identity = false;

  // Message (pg_logical_emit_message).
  bool transactional = false;
  Lsn message_lsn = kInvalidLsn;
  std::string_view prefix;
  std::string_view content;
};

struct TransactionBegin {
  Xid xid = kInvalidXid;
  Lsn final_lsn = kInvalidLsn;  // the commit LSN (Begin Prepare: prepare LSN)
  PgTimestamp commit_time = 0;
  bool prepared = false;  // Begin Prepare (two-phase)
  std::string_view gid;   // two-phase only
};

// Commit, Stream Commit, Prepare, Stream Prepare, Commit Prepared, Rollback Prepared.
struct TransactionEnd {
  enum class Kind : std::uint8_t {
    kCommit,
    kStreamCommit,
    kPrepare,
    kStreamPrepare,
    kCommitPrepared,
    kRollbackPrepared
  };
  Kind kind = Kind::kCommit;
  Xid xid = kInvalidXid;
  Lsn commit_lsn = kInvalidLsn;  // Prepare: prepare LSN; Rollback Prepared: prepare end LSN
  Lsn end_lsn = kInvalidLsn;     // LSN to confirm once this transaction is durable
  PgTimestamp time = 0;
  std::uint64_t change_count = 0;  // changes delivered for this transaction
  std::string_view gid;            // two-phase only
};

struct StreamAbort {
  Xid xid = kInvalidXid;
  Xid subxid = kInvalidXid;  // == xid: the whole transaction aborted
  bool has_abort_info = false;
  Lsn abort_lsn = kInvalidLsn;
  PgTimestamp abort_time = 0;
};

class ChangeHandler {
 public:
  virtual ~ChangeHandler() = default;
  virtual Status OnChange(const Change& change) = 0;
  virtual Status OnBegin(const TransactionBegin&) { return Status::Ok(); }
  virtual Status OnCommit(const TransactionEnd&) { return Status::Ok(); }
  // Every Relation message; schema_changed when it replaced a different one.
  // The place to register unknown column types with decoder.types().
  virtual Status OnRelation(const Relation&, bool /*schema_changed*/) { return Status::Ok(); }
  virtual Status OnType(Oid, std::string_view /*nspname*/, std::string_view /*name*/) {
    return Status::Ok();
  }
  virtual Status OnOrigin(Lsn, std::string_view /*name*/) { return Status::Ok(); }
  virtual Status OnStreamStart(Xid, bool /*first_segment*/) { return Status::Ok(); }
  virtual Status OnStreamStop() { return Status::Ok(); }
  virtual Status OnStreamAbort(const StreamAbort&) { return Status::Ok(); }
};

class PgoutputDecoder {
 public:
  explicit PgoutputDecoder(ChangeHandler* handler) : handler_(handler) {}

  // Decodes one XLogData payload. `wal_start` is the XLogData header's
  // dataStart. Fails with Corruption on malformed bytes, FailedPrecondition
  // on a protocol-order violation (a change for an unknown relation, a change
  // outside a transaction, a tuple whose column count does not match the
  // relation), or with the handler's Status.
  Status Decode(Lsn wal_start, std::string_view payload);

  PgTypeRegistry& types() { return types_; }
  const PgTypeRegistry& types() const { return types_; }
  const RelationCache& relations() const { return relations_; }

  // True between Begin and Commit (or Begin Prepare and Prepare).
  bool in_transaction() const { return in_transaction_; }
  bool in_streamed_block() const { return parser_.in_streamed_block(); }

 private:
  Status DecodeMessage(Lsn wal_start);
  Status DeliverChange(Lsn wal_start, Oid relid, ChangeKind kind, Change* change);
  Status CheckTuple(const Relation& rel, const TupleData& tuple, const char* which) const;
  std::uint64_t NextOrdinal(Xid* top_xid);

  ChangeHandler* handler_;
  PgoutputParser parser_;
  PgoutputMessage msg_;
  RelationCache relations_;
  PgTypeRegistry types_;

  bool in_transaction_ = false;
  Xid xid_ = kInvalidXid;
  Lsn commit_lsn_ = kInvalidLsn;
  std::uint64_t next_ordinal_ = 0;

  Xid stream_xid_ = kInvalidXid;  // top-level xid of the open streamed block
  // Next ordinal per open streamed transaction (erased on commit/abort).
  std::unordered_map<Xid, std::uint64_t> stream_ordinals_;
};

}  // namespace pg2bq
