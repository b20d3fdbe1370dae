// The record kinds a spool holds. Row and descriptor bytes are opaque here: the
// sink encodes them, the spool only frames, compresses and checksums them.
#pragma once

#include <cstdint>
#include <string>
#include <variant>

#include "common/lsn.h"

namespace pg2bq::spool {

// On-disk type byte; values are part of the format (docs/SPOOL_FORMAT.md).
enum class RecordType : std::uint8_t {
  kRowBatch = 1,
  kDescriptorVersion = 2,
  kTxnCommit = 3,
  kTxnAbort = 4,
  kSnapshotMarker = 5,
};

const char* RecordTypeName(RecordType type);

// Encoded rows of one table, all written with one descriptor version.
struct RowBatch {
  std::uint32_t table_id = 0;  // the relation OID
  std::uint32_t descriptor_version = 0;
  std::uint32_t row_count = 0;
  Lsn first_commit_lsn = kInvalidLsn;  // commit LSN of the first transaction in the batch
  Lsn last_commit_lsn = kInvalidLsn;   // commit LSN of the last transaction in the batch
  // Once this record is durable, every transaction with commit LSN <= this value is
  // entirely in the spool. kInvalidLsn when the record completes nothing new (for
  // example the first part of a large transaction). This is what durable_lsn() reports.
  Lsn complete_through_lsn = kInvalidLsn;
  // Streamed (in-progress) transactions only: top-level xid and the (sub)transaction
  // that made the changes. 0 for ordinary transactions.
  std::uint32_t xid = 0;
  std::uint32_t subxid = 0;
  std::string rows;  // opaque encoded rows
};

// A table's row descriptor as of `lsn`, so a batch is always sent with the
// descriptor it was encoded with.
struct DescriptorVersion {
  std::uint32_t table_id = 0;
  std::uint32_t version = 0;
  Lsn lsn = kInvalidLsn;
  std::string descriptor;  // opaque (serialized descriptor + target table)
};

// A streamed transaction committed: its rows precede this record.
struct TxnCommit {
  std::uint32_t xid = 0;
  Lsn commit_lsn = kInvalidLsn;
  Lsn end_lsn = kInvalidLsn;
};

// A streamed (sub)transaction aborted. Written only to spill files: aborted rows
// never reach a segment.
struct TxnAbort {
  std::uint32_t xid = 0;
  std::uint32_t subxid = 0;  // == xid: the whole transaction
  Lsn abort_lsn = kInvalidLsn;
};

// Start or end of a table's snapshot copy.
struct SnapshotMarker {
  enum class Kind : std::uint32_t { kBegin = 1, kEnd = 2 };
  std::uint32_t table_id = 0;
  Kind kind = Kind::kBegin;
  Lsn snapshot_lsn = kInvalidLsn;
  std::string detail;  // opaque (e.g. the exported snapshot name)
};

using Record = std::variant<RowBatch, DescriptorVersion, TxnCommit, TxnAbort, SnapshotMarker>;

RecordType TypeOf(const Record& record);

// The LSN through which the spool is complete once this record is durable
// (kInvalidLsn when the record does not advance it).
Lsn CompleteThroughLsn(const Record& record);

}  // namespace pg2bq::spool
