#include "spool/record.h"

namespace pg2bq::spool {

const char* RecordTypeName(RecordType type) {
  switch (type) {
    case RecordType::kRowBatch:
      return "row-batch";
    case RecordType::kDescriptorVersion:
      return "descriptor";
    case RecordType::kTxnCommit:
      return "txn-commit";
    case RecordType::kTxnAbort:
      return "txn-abort";
    case RecordType::kSnapshotMarker:
      return "snapshot-marker";
  }
  return "unknown";
}

RecordType TypeOf(const Record& record) {
  switch (record.index()) {
    case 0:
      return RecordType::kRowBatch;
    case 1:
      return RecordType::kDescriptorVersion;
    case 2:
      return RecordType::kTxnCommit;
    case 3:
      return RecordType::kTxnAbort;
    default:
      return RecordType::kSnapshotMarker;
  }
}

Lsn CompleteThroughLsn(const Record& record) {
  if (auto* b = std::get_if<RowBatch>(&record)) return b->complete_through_lsn;
  if (auto* c = std::get_if<TxnCommit>(&record)) return c->commit_lsn;
  return kInvalidLsn;
}

}  // namespace pg2bq::spool
