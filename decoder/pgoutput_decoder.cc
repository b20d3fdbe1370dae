#include "decoder/pgoutput_decoder.h"

#include <string>

namespace pg2bq {

std::string_view ChangeKindName(ChangeKind kind) {
  switch (kind) {
    case ChangeKind::kInsert:
      return "insert";
    case ChangeKind::kUpdate:
      return "update";
    case ChangeKind::kDelete:
      return "delete";
    case ChangeKind::kTruncate:
      return "truncate";
    case ChangeKind::kMessage:
      return "message";
  }
  return "unknown";
}

namespace {

Status OrderError(Lsn wal_start, std::string_view what) {
  std::string msg = "pgoutput stream at LSN ";
  msg += FormatLsn(wal_start);
  msg += ": ";
  msg += what;
  return Status::FailedPrecondition(std::move(msg));
}

}  // namespace

Status PgoutputDecoder::Decode(Lsn wal_start, std::string_view payload) {
  Status s = parser_.Parse(payload, &msg_);
  if (!s.ok()) return s.WithContext("XLogData at LSN " + FormatLsn(wal_start));
  return DecodeMessage(wal_start);
}

std::uint64_t PgoutputDecoder::NextOrdinal(Xid* top_xid) {
  if (parser_.in_streamed_block()) {
    *top_xid = stream_xid_;
    return stream_ordinals_[stream_xid_]++;
  }
  *top_xid = xid_;
  return next_ordinal_++;
}

Status PgoutputDecoder::CheckTuple(const Relation& rel, const TupleData& tuple,
                                   const char* which) const {
  if (tuple.columns.size() == rel.columns.size()) return Status::Ok();
  return Status::Corruption("pgoutput " + std::string(which) + " tuple for " + rel.qualified_name +
                            " has " + std::to_string(tuple.columns.size()) +
                            " columns, its Relation message has " +
                            std::to_string(rel.columns.size()));
}

Status PgoutputDecoder::DeliverChange(Lsn wal_start, Oid relid, ChangeKind kind, Change* c) {
  const bool streamed = parser_.in_streamed_block();
  if (!streamed && !in_transaction_) {
    return OrderError(wal_start, std::string(ChangeKindName(kind)) + " outside a transaction");
  }
  if (kind != ChangeKind::kMessage) {
    const std::shared_ptr<const Relation>* rel = relations_.Find(relid);
    if (rel == nullptr) {
      return OrderError(wal_start, std::string(ChangeKindName(kind)) + " for relation OID " +
                                       std::to_string(relid) +
                                       " before any Relation message for it");
    }
    c->relation_ref = rel;
    c->relation = rel->get();
  }
  c->kind = kind;
  c->lsn = wal_start;
  c->streamed = streamed;
  c->ordinal = NextOrdinal(&c->xid);
  if (streamed) {
    c->commit_lsn = kInvalidLsn;
    c->subxid = msg_.xid == kInvalidXid ? c->xid : msg_.xid;
  } else {
    c->commit_lsn = commit_lsn_;
    c->subxid = c->xid;
  }
  return handler_->OnChange(*c);
}

Status PgoutputDecoder::DecodeMessage(Lsn wal_start) {
  PgoutputMessage& m = msg_;
  switch (m.type) {
    case PgoutputMessageType::kBegin:
    case PgoutputMessageType::kBeginPrepare: {
      if (in_transaction_) {
        return OrderError(wal_start,
                          "Begin while transaction " + std::to_string(xid_) + " is still open");
      }
      if (parser_.in_streamed_block())
        return OrderError(wal_start, "Begin inside a streamed block");
      in_transaction_ = true;
      xid_ = m.xid;
      commit_lsn_ = m.lsn;
      next_ordinal_ = 0;
      TransactionBegin b;
      b.xid = m.xid;
      b.final_lsn = m.lsn;
      b.commit_time = m.timestamp;
      b.prepared = m.type == PgoutputMessageType::kBeginPrepare;
      b.gid = m.name;
      return handler_->OnBegin(b);
    }
    case PgoutputMessageType::kCommit:
    case PgoutputMessageType::kPrepare: {
      if (!in_transaction_) return OrderError(wal_start, "Commit without Begin");
      in_transaction_ = false;
      TransactionEnd e;
      e.kind = m.type == PgoutputMessageType::kCommit ? TransactionEnd::Kind::kCommit
                                                      : TransactionEnd::Kind::kPrepare;
      e.xid = m.type == PgoutputMessageType::kPrepare ? m.xid : xid_;
      e.commit_lsn = m.lsn;
      e.end_lsn = m.end_lsn;
      e.time = m.timestamp;
      e.change_count = next_ordinal_;
      e.gid = m.name;
      return handler_->OnCommit(e);
    }
    case PgoutputMessageType::kCommitPrepared:
    case PgoutputMessageType::kRollbackPrepared: {
      TransactionEnd e;
      e.kind = m.type == PgoutputMessageType::kCommitPrepared
                   ? TransactionEnd::Kind::kCommitPrepared
                   : TransactionEnd::Kind::kRollbackPrepared;
      e.xid = m.xid;
      e.commit_lsn = m.lsn;
      e.end_lsn = m.end_lsn;
      e.time = m.timestamp;
      e.gid = m.name;
      return handler_->OnCommit(e);
    }
    case PgoutputMessageType::kStreamCommit:
    case PgoutputMessageType::kStreamPrepare: {
      if (parser_.in_streamed_block()) {
        return OrderError(wal_start, "Stream Commit inside a streamed block");
      }
      TransactionEnd e;
      e.kind = m.type == PgoutputMessageType::kStreamCommit ? TransactionEnd::Kind::kStreamCommit
                                                            : TransactionEnd::Kind::kStreamPrepare;
      e.xid = m.xid;
      e.commit_lsn = m.lsn;
      e.end_lsn = m.end_lsn;
      e.time = m.timestamp;
      e.gid = m.name;
      if (auto it = stream_ordinals_.find(m.xid); it != stream_ordinals_.end()) {
        e.change_count = it->second;
        stream_ordinals_.erase(it);
      }
      return handler_->OnCommit(e);
    }
    case PgoutputMessageType::kStreamStart:
      if (in_transaction_) {
        return OrderError(wal_start, "Stream Start inside transaction " + std::to_string(xid_));
      }
      stream_xid_ = m.xid;
      if (m.first_segment) {
        stream_ordinals_[m.xid] = 0;
      } else {
        stream_ordinals_.try_emplace(m.xid, 0);
      }
      return handler_->OnStreamStart(m.xid, m.first_segment);
    case PgoutputMessageType::kStreamStop:
      stream_xid_ = kInvalidXid;
      return handler_->OnStreamStop();
    case PgoutputMessageType::kStreamAbort: {
      StreamAbort a;
      a.xid = m.xid;
      a.subxid = m.subxid;
      a.has_abort_info = m.has_abort_info;
      a.abort_lsn = m.has_abort_info ? m.lsn : kInvalidLsn;
      a.abort_time = m.has_abort_info ? m.timestamp : 0;
      if (m.subxid == m.xid) stream_ordinals_.erase(m.xid);
      return handler_->OnStreamAbort(a);
    }
    case PgoutputMessageType::kRelation: {
      bool changed = false;
      std::shared_ptr<const Relation> rel = relations_.Update(m, &changed);
      return handler_->OnRelation(*rel, changed);
    }
    case PgoutputMessageType::kType:
      types_.NoteTypeMessage(m.oid, m.nspname, m.name);
      return handler_->OnType(m.oid, m.nspname, m.name);
    case PgoutputMessageType::kOrigin:
      return handler_->OnOrigin(m.lsn, m.name);
    case PgoutputMessageType::kInsert: {
      Change c;
      c.new_tuple = &m.new_tuple;
      if (const auto* rel = relations_.Find(m.oid)) {
        PG2BQ_RETURN_IF_ERROR(CheckTuple(**rel, m.new_tuple, "Insert new"));
      }
      return DeliverChange(wal_start, m.oid, ChangeKind::kInsert, &c);
    }
    case PgoutputMessageType::kUpdate: {
      Change c;
      c.new_tuple = &m.new_tuple;
      c.old_kind = m.old_kind;
      if (m.old_kind != OldTupleKind::kNone) c.old_tuple = &m.old_tuple;
      if (const auto* rel = relations_.Find(m.oid)) {
        PG2BQ_RETURN_IF_ERROR(CheckTuple(**rel, m.new_tuple, "Update new"));
        if (c.old_tuple) PG2BQ_RETURN_IF_ERROR(CheckTuple(**rel, m.old_tuple, "Update old"));
      }
      return DeliverChange(wal_start, m.oid, ChangeKind::kUpdate, &c);
    }
    case PgoutputMessageType::kDelete: {
      Change c;
      c.old_kind = m.old_kind;
      c.old_tuple = &m.old_tuple;
      if (const auto* rel = relations_.Find(m.oid)) {
        PG2BQ_RETURN_IF_ERROR(CheckTuple(**rel, m.old_tuple, "Delete old"));
      }
      return DeliverChange(wal_start, m.oid, ChangeKind::kDelete, &c);
    }
    case PgoutputMessageType::kTruncate: {
      for (Oid relid : m.truncate_relids) {
        Change c;
        c.cascade = (m.flags & kTruncateCascade) != 0;
        c.restart_identity = (m.flags & kTruncateRestartIdentity) != 0;
        PG2BQ_RETURN_IF_ERROR(DeliverChange(wal_start, relid, ChangeKind::kTruncate, &c));
      }
      return Status::Ok();
    }
    case PgoutputMessageType::kMessage: {
      Change c;
      c.transactional = m.transactional;
      c.message_lsn = m.lsn;
      c.prefix = m.name;
      c.content = m.content;
      if (!m.transactional) {
        // Sent outside any transaction, the moment it is decoded.
        c.kind = ChangeKind::kMessage;
        c.lsn = wal_start;
        return handler_->OnChange(c);
      }
      return DeliverChange(wal_start, 0, ChangeKind::kMessage, &c);
    }
  }
  return Status::Internal("unhandled pgoutput message type");
}

}  // namespace pg2bq
