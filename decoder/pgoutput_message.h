// pgoutput protocol messages (versions 1-4), as views into the received bytes.
//
// One PgoutputMessage is reused for every payload: its vectors keep their
// capacity, so parsing a change allocates nothing once warmed up. Every
// string_view points into the payload passed to the parser and is valid only
// as long as that buffer is.
//
// Byte layouts: PostgreSQL "Logical Replication Message Formats" and
// src/backend/replication/logical/proto.c.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "common/lsn.h"

namespace pg2bq {

using Xid = std::uint32_t;
using Oid = std::uint32_t;
inline constexpr Xid kInvalidXid = 0;

// PostgreSQL timestamps on the wire: microseconds since 2000-01-01 00:00:00 UTC.
using PgTimestamp = std::int64_t;

enum class PgoutputMessageType : char {
  kBegin = 'B',
  kCommit = 'C',
  kOrigin = 'O',
  kRelation = 'R',
  kType = 'Y',
  kInsert = 'I',
  kUpdate = 'U',
  kDelete = 'D',
  kTruncate = 'T',
  kMessage = 'M',
  kStreamStart = 'S',
  kStreamStop = 'E',
  kStreamCommit = 'c',
  kStreamAbort = 'A',
  kBeginPrepare = 'b',
  kPrepare = 'P',
  kCommitPrepared = 'K',
  kRollbackPrepared = 'r',
  kStreamPrepare = 'p',
};

// "Insert", "Stream Commit", ...; "unknown" for anything else.
std::string_view PgoutputMessageTypeName(char type);

// How one column of a tuple arrived. kUnchangedToast ('u') means "the value
// did not change and was not sent"; it is NOT a NULL and must never be
// written as one.
enum class ColumnState : std::uint8_t {
  kNull,            // 'n'
  kUnchangedToast,  // 'u'
  kText,            // 't': data is the type's text output
  kBinary,          // 'b': data is the type's send() output
};

struct ColumnValue {
  ColumnState state = ColumnState::kNull;
  std::string_view data;  // empty for kNull / kUnchangedToast
};

// TupleData: one entry per column of the relation, in attribute order.
struct TupleData {
  std::vector<ColumnValue> columns;
};

// Which old row image an Update or Delete carries.
enum class OldTupleKind : std::uint8_t {
  kNone,      // no old image (UPDATE not touching the replica identity)
  kKey,       // 'K': replica identity columns only; other columns are NULL
  kFullTuple  // 'O': REPLICA IDENTITY FULL, the whole old row
};

struct RelationColumnMessage {
  std::uint8_t flags = 0;  // bit 0: part of the replica identity key
  std::string_view name;
  Oid type_oid = 0;  // atttypid: for a domain column, the domain's OID
  std::int32_t type_modifier = -1;
};

// Truncate flags (proto.c TRUNCATE_CASCADE / TRUNCATE_RESTART_SEQS).
inline constexpr std::uint8_t kTruncateCascade = 1;
inline constexpr std::uint8_t kTruncateRestartIdentity = 2;

// All fields of all message kinds; `type` says which are meaningful. A flat
// struct rather than a variant so the tuple vectors are reused across calls.
struct PgoutputMessage {
  PgoutputMessageType type = PgoutputMessageType::kBegin;

  // Present on Relation/Type/Insert/Update/Delete/Truncate/Message inside a
  // streamed block (between Stream Start and Stream Stop): the xid of the
  // (sub)transaction that made the change. kInvalidXid otherwise.
  // Also the xid of Begin, Stream Start/Commit/Abort and the 2PC messages.
  Xid xid = kInvalidXid;

  // Begin: final_lsn. Commit / Stream Commit / Commit Prepared: commit_lsn.
  // Begin Prepare / Prepare / Stream Prepare: prepare_lsn.
  // Rollback Prepared: prepare_end_lsn. Origin: the origin's commit LSN.
  // Message: the message's LSN. Stream Abort (v4 parallel): abort_lsn.
  Lsn lsn = kInvalidLsn;
  // Commit / Stream Commit / 2PC: end_lsn (Rollback Prepared: rollback_end_lsn).
  Lsn end_lsn = kInvalidLsn;
  // Commit/Begin/2PC/Stream Abort(v4) timestamp (Rollback Prepared: rollback time).
  PgTimestamp timestamp = 0;
  // Rollback Prepared only: the prepare time.
  PgTimestamp prepare_timestamp = 0;
  // Commit / Stream Commit / Prepare ... / Truncate / Message flags byte.
  std::uint8_t flags = 0;

  // Stream Start: first segment of this transaction. Message: transactional.
  bool first_segment = false;
  bool transactional = false;
  // Stream Abort: the aborted subtransaction (== xid when the whole
  // transaction aborted). has_abort_info: v4 parallel apply fields present.
  Xid subxid = kInvalidXid;
  bool has_abort_info = false;

  // Relation / Type: relation or type OID. Insert/Update/Delete: relation OID.
  Oid oid = 0;
  // Relation / Type: namespace (empty means pg_catalog) and name.
  // Origin: name. Message: prefix. 2PC: gid.
  std::string_view nspname;
  std::string_view name;
  // Relation: replica identity setting ('d', 'n', 'f', 'i').
  char replica_identity = 'd';
  std::vector<RelationColumnMessage> relation_columns;

  // Insert/Update: the new row. Update/Delete: the old row image.
  TupleData new_tuple;
  OldTupleKind old_kind = OldTupleKind::kNone;
  TupleData old_tuple;

  // Truncate: the truncated relations.
  std::vector<Oid> truncate_relids;

  // Message: content.
  std::string_view content;
};

}  // namespace pg2bq
