#include "decoder/pgoutput_parser.h"

#include <string>

#include "decoder/byte_reader.h"

namespace pg2bq {

std::string_view PgoutputMessageTypeName(char type) {
  switch (type) {
    case 'B':
      return "Begin";
    case 'C':
      return "Commit";
    case 'O':
      return "Origin";
    case 'R':
      return "Relation";
    case 'Y':
      return "Type";
    case 'I':
      return "Insert";
    case 'U':
      return "Update";
    case 'D':
      return "Delete";
    case 'T':
      return "Truncate";
    case 'M':
      return "Message";
    case 'S':
      return "Stream Start";
    case 'E':
      return "Stream Stop";
    case 'c':
      return "Stream Commit";
    case 'A':
      return "Stream Abort";
    case 'b':
      return "Begin Prepare";
    case 'P':
      return "Prepare";
    case 'K':
      return "Commit Prepared";
    case 'r':
      return "Rollback Prepared";
    case 'p':
      return "Stream Prepare";
    default:
      return "unknown";
  }
}

namespace {

// Reads the fields of one message and produces errors that name the message
// and the offset of the field that could not be read.
class MessageReader {
 public:
  MessageReader(std::string_view payload, char type) : r_(payload), type_(type) {}

  ByteReader& reader() { return r_; }

  Status Fail(std::string_view what) const { return FailAt(r_.offset(), what); }
  Status FailAt(std::size_t offset, std::string_view what) const {
    std::string msg = "pgoutput ";
    msg += PgoutputMessageTypeName(type_);
    if (PgoutputMessageTypeName(type_) == "unknown") {
      msg += " message type 0x";
      static const char kHex[] = "0123456789abcdef";
      msg += kHex[(static_cast<unsigned char>(type_) >> 4) & 0xf];
      msg += kHex[static_cast<unsigned char>(type_) & 0xf];
    }
    msg += " at byte ";
    msg += std::to_string(offset);
    msg += ": ";
    msg += what;
    return Status::Corruption(std::move(msg));
  }
  Status Truncated(std::string_view field, std::size_t need) const {
    std::string what = "truncated ";
    what += field;
    what +=
        " (need " + std::to_string(need) + " bytes, " + std::to_string(r_.remaining()) + " left)";
    return Fail(what);
  }

  Status U8(std::string_view field, std::uint8_t* v) {
    return r_.ReadU8(v) ? Status::Ok() : Truncated(field, 1);
  }
  Status U32(std::string_view field, std::uint32_t* v) {
    return r_.ReadU32(v) ? Status::Ok() : Truncated(field, 4);
  }
  Status I16(std::string_view field, std::int16_t* v) {
    return r_.ReadI16(v) ? Status::Ok() : Truncated(field, 2);
  }
  Status I32(std::string_view field, std::int32_t* v) {
    return r_.ReadI32(v) ? Status::Ok() : Truncated(field, 4);
  }
  Status I64(std::string_view field, std::int64_t* v) {
    return r_.ReadI64(v) ? Status::Ok() : Truncated(field, 8);
  }
  Status U64(std::string_view field, std::uint64_t* v) {
    return r_.ReadU64(v) ? Status::Ok() : Truncated(field, 8);
  }
  Status CString(std::string_view field, std::string_view* v) {
    if (r_.ReadCString(v)) return Status::Ok();
    std::string what = "unterminated string ";
    what += field;
    return Fail(what);
  }
  Status Bool(std::string_view field, bool* v) {
    std::uint8_t b = 0;
    PG2BQ_RETURN_IF_ERROR(U8(field, &b));
    *v = b != 0;
    return Status::Ok();
  }
  Status End() const {
    if (r_.AtEnd()) return Status::Ok();
    return Fail(std::to_string(r_.remaining()) + " unexpected trailing bytes");
  }

  Status Tuple(std::string_view which, TupleData* tuple) {
    std::int16_t natts = 0;
    PG2BQ_RETURN_IF_ERROR(I16(which, &natts));
    if (natts < 0) return Fail("negative column count in " + std::string(which));
    tuple->columns.resize(static_cast<std::size_t>(natts));
    for (std::int16_t i = 0; i < natts; ++i) {
      ColumnValue& col = tuple->columns[static_cast<std::size_t>(i)];
      std::uint8_t kind = 0;
      if (!r_.ReadU8(&kind)) {
        return Truncated(std::string(which) + " column " + std::to_string(i), 1);
      }
      switch (kind) {
        case 'n':
          col.state = ColumnState::kNull;
          col.data = {};
          break;
        case 'u':
          col.state = ColumnState::kUnchangedToast;
          col.data = {};
          break;
        case 't':
        case 'b': {
          col.state = kind == 't' ? ColumnState::kText : ColumnState::kBinary;
          std::int32_t len = 0;
          if (!r_.ReadI32(&len)) {
            return Truncated(std::string(which) + " column " + std::to_string(i) + " length", 4);
          }
          if (len < 0) {
            return FailAt(r_.offset() - 4, std::string(which) + " column " + std::to_string(i) +
                                               " has negative length " + std::to_string(len));
          }
          if (!r_.ReadBytes(static_cast<std::size_t>(len), &col.data)) {
            return Truncated(std::string(which) + " column " + std::to_string(i) + " value",
                             static_cast<std::size_t>(len));
          }
          break;
        }
        default:
          return FailAt(r_.offset() - 1, std::string(which) + " column " + std::to_string(i) +
                                             " has unknown kind byte " +
                                             std::to_string(static_cast<int>(kind)));
      }
    }
    return Status::Ok();
  }

 private:
  ByteReader r_;
  char type_;
};

}  // namespace

Status PgoutputParser::Parse(std::string_view payload, PgoutputMessage* out) {
  if (payload.empty()) {
    return Status::Corruption("pgoutput message at byte 0: empty payload");
  }
  const char type = payload[0];
  MessageReader m(payload, type);
  m.reader().ReadBytes(1, &out->name);  // skip the type byte
  out->type = static_cast<PgoutputMessageType>(type);
  out->xid = kInvalidXid;
  out->nspname = {};
  out->name = {};
  out->old_kind = OldTupleKind::kNone;

  // Messages that carry a leading xid while inside a streamed block.
  auto read_stream_xid = [&]() -> Status {
    if (!in_streamed_block_) return Status::Ok();
    return m.U32("xid", &out->xid);
  };

  switch (type) {
    case 'B':
      PG2BQ_RETURN_IF_ERROR(m.U64("final_lsn", &out->lsn));
      PG2BQ_RETURN_IF_ERROR(m.I64("commit timestamp", &out->timestamp));
      PG2BQ_RETURN_IF_ERROR(m.U32("xid", &out->xid));
      break;
    case 'C':
      PG2BQ_RETURN_IF_ERROR(m.U8("flags", &out->flags));
      PG2BQ_RETURN_IF_ERROR(m.U64("commit_lsn", &out->lsn));
      PG2BQ_RETURN_IF_ERROR(m.U64("end_lsn", &out->end_lsn));
      PG2BQ_RETURN_IF_ERROR(m.I64("commit timestamp", &out->timestamp));
      break;
    case 'O':
      PG2BQ_RETURN_IF_ERROR(m.U64("origin commit lsn", &out->lsn));
      PG2BQ_RETURN_IF_ERROR(m.CString("origin name", &out->name));
      break;
    case 'R': {
      PG2BQ_RETURN_IF_ERROR(read_stream_xid());
      PG2BQ_RETURN_IF_ERROR(m.U32("relation oid", &out->oid));
      PG2BQ_RETURN_IF_ERROR(m.CString("namespace", &out->nspname));
      PG2BQ_RETURN_IF_ERROR(m.CString("relation name", &out->name));
      std::uint8_t ident = 0;
      PG2BQ_RETURN_IF_ERROR(m.U8("replica identity", &ident));
      out->replica_identity = static_cast<char>(ident);
      std::int16_t natts = 0;
      PG2BQ_RETURN_IF_ERROR(m.I16("column count", &natts));
      if (natts < 0) return m.Fail("negative column count");
      out->relation_columns.resize(static_cast<std::size_t>(natts));
      for (auto& col : out->relation_columns) {
        PG2BQ_RETURN_IF_ERROR(m.U8("column flags", &col.flags));
        PG2BQ_RETURN_IF_ERROR(m.CString("column name", &col.name));
        PG2BQ_RETURN_IF_ERROR(m.U32("column type oid", &col.type_oid));
        PG2BQ_RETURN_IF_ERROR(m.I32("column type modifier", &col.type_modifier));
      }
      break;
    }
    case 'Y':
      PG2BQ_RETURN_IF_ERROR(read_stream_xid());
      PG2BQ_RETURN_IF_ERROR(m.U32("type oid", &out->oid));
      PG2BQ_RETURN_IF_ERROR(m.CString("namespace", &out->nspname));
      PG2BQ_RETURN_IF_ERROR(m.CString("type name", &out->name));
      break;
    case 'I': {
      PG2BQ_RETURN_IF_ERROR(read_stream_xid());
      PG2BQ_RETURN_IF_ERROR(m.U32("relation oid", &out->oid));
      std::uint8_t marker = 0;
      PG2BQ_RETURN_IF_ERROR(m.U8("tuple marker", &marker));
      if (marker != 'N') return m.FailAt(m.reader().offset() - 1, "expected 'N' tuple marker");
      PG2BQ_RETURN_IF_ERROR(m.Tuple("new tuple", &out->new_tuple));
      break;
    }
    case 'U': {
      PG2BQ_RETURN_IF_ERROR(read_stream_xid());
      PG2BQ_RETURN_IF_ERROR(m.U32("relation oid", &out->oid));
      std::uint8_t marker = 0;
      PG2BQ_RETURN_IF_ERROR(m.U8("tuple marker", &marker));
      if (marker == 'K' || marker == 'O') {
        out->old_kind = marker == 'K' ? OldTupleKind::kKey : OldTupleKind::kFullTuple;
        PG2BQ_RETURN_IF_ERROR(m.Tuple("old tuple", &out->old_tuple));
        PG2BQ_RETURN_IF_ERROR(m.U8("tuple marker", &marker));
      }
      if (marker != 'N') {
        return m.FailAt(m.reader().offset() - 1, "expected 'K', 'O' or 'N' tuple marker");
      }
      PG2BQ_RETURN_IF_ERROR(m.Tuple("new tuple", &out->new_tuple));
      break;
    }
    case 'D': {
      PG2BQ_RETURN_IF_ERROR(read_stream_xid());
      PG2BQ_RETURN_IF_ERROR(m.U32("relation oid", &out->oid));
      std::uint8_t marker = 0;
      PG2BQ_RETURN_IF_ERROR(m.U8("tuple marker", &marker));
      if (marker != 'K' && marker != 'O') {
        return m.FailAt(m.reader().offset() - 1, "expected 'K' or 'O' tuple marker");
      }
      out->old_kind = marker == 'K' ? OldTupleKind::kKey : OldTupleKind::kFullTuple;
      PG2BQ_RETURN_IF_ERROR(m.Tuple("old tuple", &out->old_tuple));
      break;
    }
    case 'T': {
      PG2BQ_RETURN_IF_ERROR(read_stream_xid());
      std::int32_t nrelids = 0;
      PG2BQ_RETURN_IF_ERROR(m.I32("relation count", &nrelids));
      PG2BQ_RETURN_IF_ERROR(m.U8("flags", &out->flags));
      if (nrelids < 0 || static_cast<std::size_t>(nrelids) > m.reader().remaining() / 4) {
        return m.Fail("relation count " + std::to_string(nrelids) + " does not fit the message");
      }
      out->truncate_relids.resize(static_cast<std::size_t>(nrelids));
      for (auto& relid : out->truncate_relids) {
        PG2BQ_RETURN_IF_ERROR(m.U32("relation oid", &relid));
      }
      break;
    }
    case 'M': {
      PG2BQ_RETURN_IF_ERROR(read_stream_xid());
      PG2BQ_RETURN_IF_ERROR(m.U8("flags", &out->flags));
      out->transactional = (out->flags & 1) != 0;
      PG2BQ_RETURN_IF_ERROR(m.U64("message lsn", &out->lsn));
      PG2BQ_RETURN_IF_ERROR(m.CString("prefix", &out->name));
      std::int32_t len = 0;
      PG2BQ_RETURN_IF_ERROR(m.I32("content length", &len));
      if (len < 0) return m.Fail("negative content length");
      if (!m.reader().ReadBytes(static_cast<std::size_t>(len), &out->content)) {
        return m.Truncated("content", static_cast<std::size_t>(len));
      }
      break;
    }
    case 'S':
      PG2BQ_RETURN_IF_ERROR(m.U32("xid", &out->xid));
      PG2BQ_RETURN_IF_ERROR(m.Bool("first segment flag", &out->first_segment));
      if (in_streamed_block_) return m.FailAt(0, "Stream Start inside an open streamed block");
      PG2BQ_RETURN_IF_ERROR(m.End());
      in_streamed_block_ = true;
      return Status::Ok();
    case 'E':
      if (!in_streamed_block_) return m.FailAt(0, "Stream Stop without Stream Start");
      PG2BQ_RETURN_IF_ERROR(m.End());
      in_streamed_block_ = false;
      return Status::Ok();
    case 'c':
      PG2BQ_RETURN_IF_ERROR(m.U32("xid", &out->xid));
      PG2BQ_RETURN_IF_ERROR(m.U8("flags", &out->flags));
      PG2BQ_RETURN_IF_ERROR(m.U64("commit_lsn", &out->lsn));
      PG2BQ_RETURN_IF_ERROR(m.U64("end_lsn", &out->end_lsn));
      PG2BQ_RETURN_IF_ERROR(m.I64("commit timestamp", &out->timestamp));
      break;
    case 'A':
      PG2BQ_RETURN_IF_ERROR(m.U32("xid", &out->xid));
      PG2BQ_RETURN_IF_ERROR(m.U32("subxid", &out->subxid));
      // Protocol 4 with parallel streaming appends the abort LSN and time.
      out->has_abort_info = m.reader().remaining() != 0;
      if (out->has_abort_info) {
        PG2BQ_RETURN_IF_ERROR(m.U64("abort_lsn", &out->lsn));
        PG2BQ_RETURN_IF_ERROR(m.I64("abort timestamp", &out->timestamp));
      }
      break;
    case 'b':
      PG2BQ_RETURN_IF_ERROR(m.U64("prepare_lsn", &out->lsn));
      PG2BQ_RETURN_IF_ERROR(m.U64("end_lsn", &out->end_lsn));
      PG2BQ_RETURN_IF_ERROR(m.I64("prepare timestamp", &out->timestamp));
      PG2BQ_RETURN_IF_ERROR(m.U32("xid", &out->xid));
      PG2BQ_RETURN_IF_ERROR(m.CString("gid", &out->name));
      break;
    case 'P':
    case 'p':
      PG2BQ_RETURN_IF_ERROR(m.U8("flags", &out->flags));
      PG2BQ_RETURN_IF_ERROR(m.U64("prepare_lsn", &out->lsn));
      PG2BQ_RETURN_IF_ERROR(m.U64("end_lsn", &out->end_lsn));
      PG2BQ_RETURN_IF_ERROR(m.I64("prepare timestamp", &out->timestamp));
      PG2BQ_RETURN_IF_ERROR(m.U32("xid", &out->xid));
      PG2BQ_RETURN_IF_ERROR(m.CString("gid", &out->name));
      break;
    case 'K':
      PG2BQ_RETURN_IF_ERROR(m.U8("flags", &out->flags));
      PG2BQ_RETURN_IF_ERROR(m.U64("commit_lsn", &out->lsn));
      PG2BQ_RETURN_IF_ERROR(m.U64("end_lsn", &out->end_lsn));
      PG2BQ_RETURN_IF_ERROR(m.I64("commit timestamp", &out->timestamp));
      PG2BQ_RETURN_IF_ERROR(m.U32("xid", &out->xid));
      PG2BQ_RETURN_IF_ERROR(m.CString("gid", &out->name));
      break;
    case 'r':
      PG2BQ_RETURN_IF_ERROR(m.U8("flags", &out->flags));
      PG2BQ_RETURN_IF_ERROR(m.U64("prepare_end_lsn", &out->lsn));
      PG2BQ_RETURN_IF_ERROR(m.U64("rollback_end_lsn", &out->end_lsn));
      PG2BQ_RETURN_IF_ERROR(m.I64("prepare timestamp", &out->prepare_timestamp));
      PG2BQ_RETURN_IF_ERROR(m.I64("rollback timestamp", &out->timestamp));
      PG2BQ_RETURN_IF_ERROR(m.U32("xid", &out->xid));
      PG2BQ_RETURN_IF_ERROR(m.CString("gid", &out->name));
      break;
    default:
      return m.FailAt(0, "unknown message type");
  }
  return m.End();
}

}  // namespace pg2bq
