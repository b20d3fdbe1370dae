#include "agent/change_json.h"

#include "common/json_string.h"
#include "decoder/pg_text_format.h"

namespace pg2bq::agent {
namespace {

constexpr char kHex[] = "0123456789abcdef";

}  // namespace

void ChangeJsonWriter::AppendPrefix(Lsn lsn, Lsn commit_lsn, std::string* out) {
  out->append("{\"lsn\":\"");
  out->append(FormatLsn(lsn));
  out->append("\",\"commit_lsn\":");
  if (commit_lsn == kInvalidLsn) {
    out->append("null");
  } else {
    out->push_back('"');
    out->append(FormatLsn(commit_lsn));
    out->push_back('"');
  }
}

Status ChangeJsonWriter::AppendValue(const RelationColumn& col, const ColumnValue& value,
                                     std::string* out) {
  switch (value.state) {
    case ColumnState::kNull:
      out->append("null");
      return Status::Ok();
    case ColumnState::kUnchangedToast:
      out->append("{\"unchanged_toast\":true}");
      return Status::Ok();
    case ColumnState::kText:
    case ColumnState::kBinary:
      break;
  }
  const PgType type = types_->Resolve(col.type_oid);
  if (value.state == ColumnState::kBinary && !type.known()) {
    // Not decodable: say so rather than guess (use text mode for such columns).
    out->append("{\"type_oid\":");
    out->append(std::to_string(col.type_oid));
    out->append(",\"binary_hex\":\"");
    for (unsigned char c : value.data) {
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 15]);
    }
    out->append("\"}");
    return Status::Ok();
  }
  PG2BQ_RETURN_IF_ERROR(DecodePgValueInto(type, value, &value_).WithContext("column " + col.name));
  if (value.state == ColumnState::kText) {
    AppendJsonString(value.data, out);  // the server's own text
    return Status::Ok();
  }
  scratch_.clear();
  PG2BQ_RETURN_IF_ERROR(AppendPgText(value_, &scratch_).WithContext("column " + col.name));
  AppendJsonString(scratch_, out);
  return Status::Ok();
}

Status ChangeJsonWriter::AppendTuple(const Relation& rel, const TupleData& tuple, bool keys_only,
                                     std::string* out) {
  out->push_back('{');
  bool first = true;
  const std::size_t n = std::min(rel.columns.size(), tuple.columns.size());
  for (std::size_t i = 0; i < n; ++i) {
    const RelationColumn& col = rel.columns[i];
    if (keys_only && !col.is_key) continue;
    if (!first) out->push_back(',');
    first = false;
    AppendJsonString(col.name, out);
    out->push_back(':');
    PG2BQ_RETURN_IF_ERROR(AppendValue(col, tuple.columns[i], out));
  }
  out->push_back('}');
  return Status::Ok();
}

Status ChangeJsonWriter::AppendBody(const Change& c, std::string* out) {
  out->append(",\"xid\":");
  if (c.xid == kInvalidXid) {
    out->append("null");
  } else {
    out->append(std::to_string(c.xid));
  }
  out->append(",\"table\":");
  if (c.relation != nullptr) {
    AppendJsonString(c.relation->qualified_name, out);
  } else {
    out->append("null");
  }
  out->append(",\"op\":\"");
  out->append(ChangeKindName(c.kind));
  out->push_back('"');
  switch (c.kind) {
    case ChangeKind::kInsert:
    case ChangeKind::kUpdate:
    case ChangeKind::kDelete: {
      out->append(",\"new\":");
      if (c.new_tuple != nullptr && c.kind != ChangeKind::kDelete) {
        PG2BQ_RETURN_IF_ERROR(AppendTuple(*c.relation, *c.new_tuple, false, out));
      } else {
        out->append("null");
      }
      out->append(",\"old\":");
      if (c.old_tuple != nullptr && c.old_kind != OldTupleKind::kNone) {
        PG2BQ_RETURN_IF_ERROR(
            AppendTuple(*c.relation, *c.old_tuple, c.old_kind == OldTupleKind::kKey, out));
      } else {
        out->append("null");
      }
      break;
    }
    case ChangeKind::kTruncate:
      out->append(c.cascade ? ",\"cascade\":true" : ",\"cascade\":false");
      out->append(c.restart_identity ? ",\"restart_identity\":true"
                                     : ",\"restart_identity\":false");
      break;
    case ChangeKind::kMessage:
      out->append(c.transactional ? ",\"transactional\":true" : ",\"transactional\":false");
      out->append(",\"prefix\":");
      AppendJsonString(c.prefix, out);
      out->append(",\"content\":");
      AppendJsonString(c.content, out);
      break;
  }
  out->append("}\n");
  return Status::Ok();
}

const std::vector<PgType>& ChangeJsonWriter::ResolvedTypes(const Relation& rel) {
  if (&rel != last_relation_) {
    if (resolved_.size() > 4096) resolved_.clear();  // relations replaced many times over
    last_resolved_ = &resolved_[&rel];
    last_relation_ = &rel;
  }
  ResolvedColumns& r = *last_resolved_;
  const std::uint64_t generation = types_->generation() + 1;  // 0: never resolved
  if (r.generation != generation || r.types.size() != rel.columns.size()) {
    r.generation = generation;
    r.types.assign(rel.columns.size(), PgType{});
  }
  for (std::size_t i = 0; i < rel.columns.size(); ++i) {
    const Oid oid = rel.columns[i].type_oid;
    if (r.types[i].oid != oid) r.types[i] = types_->Resolve(oid);
  }
  return r.types;
}

Status ChangeJsonWriter::DecodeValues(const Change& c) {
  if (c.relation == nullptr) return Status::Ok();
  const std::vector<PgType>& types = ResolvedTypes(*c.relation);
  for (const TupleData* t : {c.new_tuple, c.old_tuple}) {
    if (t == nullptr) continue;
    const std::size_t n = std::min(c.relation->columns.size(), t->columns.size());
    for (std::size_t i = 0; i < n; ++i) {
      const ColumnValue& v = t->columns[i];
      if (v.state != ColumnState::kText && v.state != ColumnState::kBinary) continue;
      const PgType& type = types[i];
      if (v.state == ColumnState::kBinary && !type.known()) continue;
      Status s = DecodePgValueInto(type, v, &value_);
      if (!s.ok()) return s.WithContext("column " + c.relation->columns[i].name);
    }
  }
  return Status::Ok();
}

}  // namespace pg2bq::agent
