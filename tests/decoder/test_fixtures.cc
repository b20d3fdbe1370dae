#include "tests/decoder/test_fixtures.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "decoder/pg_text_format.h"

namespace pg2bq::testing {

std::string Hex(std::string_view bytes) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (char c : bytes) {
    out.push_back(kHex[static_cast<unsigned char>(c) >> 4]);
    out.push_back(kHex[static_cast<unsigned char>(c) & 15]);
  }
  return out;
}

std::string Unhex(std::string_view hex) {
  auto val = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(val(hex[i]) * 16 + val(hex[i + 1])));
  }
  return out;
}

std::vector<FixtureMessage> LoadFixture(const std::string& name) {
  std::ifstream in(std::string(PG2BQ_DECODER_FIXTURE_DIR) + "/" + name);
  std::vector<FixtureMessage> msgs;
  if (!in) {
    ADD_FAILURE() << "missing fixture " << name;
    return msgs;
  }
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string lsn, xid, hex;
    ls >> lsn >> xid >> hex;
    FixtureMessage m;
    m.lsn = ParseLsn(lsn).value_or(0);
    m.payload = Unhex(hex);
    msgs.push_back(std::move(m));
  }
  return msgs;
}

void RegisterFixtureTypes(PgTypeRegistry* types) {
  std::ifstream in(std::string(PG2BQ_DECODER_FIXTURE_DIR) + "/types.txt");
  ASSERT_TRUE(in) << "missing types.txt";
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    PgTypeDescription d;
    ls >> d.oid >> d.typtype >> d.typcategory >> d.typbasetype >> d.typelem >> d.name;
    ASSERT_TRUE(types->Register(d).ok()) << line;
  }
}

Status RecordingHandler::AppendTuple(const Relation& rel, const TupleData& t, std::string* line,
                                     std::vector<PgValue>* vals, std::vector<PgType>* types) {
  line->push_back('{');
  for (std::size_t i = 0; i < t.columns.size(); ++i) {
    const ColumnValue& col = t.columns[i];
    if (i > 0) line->push_back(',');
    line->append(rel.columns[i].name);
    line->push_back('=');
    if (col.state == ColumnState::kNull) {
      line->append("<null>");
      continue;
    }
    if (col.state == ColumnState::kUnchangedToast) {
      line->append("<unchanged toast>");
      continue;
    }
    PgType type = (*decoder_)->types().Resolve(rel.columns[i].type_oid);
    if (!type.known() && col.state == ColumnState::kBinary) {
      ++unknown_binary_columns;
      Result<PgValue> r = DecodePgValue(type, col);
      if (r.ok()) return Status::Internal("binary unknown type decoded");
      line->append("<unknown type>");
      continue;
    }
    if (!type.known()) {
      line->append("<unknown type>");
      continue;
    }
    PgValue v;
    PG2BQ_RETURN_IF_ERROR(DecodePgValueInto(type, col, &v));
    PG2BQ_RETURN_IF_ERROR(AppendPgText(v, line));
    vals->push_back(v);
    types->push_back(type);
  }
  line->push_back('}');
  return Status::Ok();
}

Status RecordingHandler::OnChange(const Change& c) {
  std::string line = std::string(ChangeKindName(c.kind)) + " xid=" + std::to_string(c.xid) +
                     " sub=" + std::to_string(c.subxid) + " ord=" + std::to_string(c.ordinal) +
                     " commit=" + FormatLsn(c.commit_lsn) + (c.streamed ? " streamed" : "");
  Change meta = c;
  meta.new_tuple = nullptr;
  meta.old_tuple = nullptr;
  meta.prefix = {};
  meta.content = {};
  changes_meta.push_back(meta);
  values.emplace_back();
  value_types.emplace_back();
  if (c.relation) line += " " + c.relation->qualified_name;
  if (c.kind == ChangeKind::kTruncate) {
    line += c.cascade ? " cascade" : "";
    line += c.restart_identity ? " restart" : "";
  }
  if (c.kind == ChangeKind::kMessage) {
    line += std::string(c.transactional ? " tx" : " nontx") + " prefix=" + std::string(c.prefix) +
            " content=" + Hex(c.content);
  }
  if (c.old_tuple) {
    line += c.old_kind == OldTupleKind::kKey ? " key=" : " old=";
    PG2BQ_RETURN_IF_ERROR(
        AppendTuple(*c.relation, *c.old_tuple, &line, &values.back(), &value_types.back()));
  }
  if (c.new_tuple) {
    line += " new=";
    PG2BQ_RETURN_IF_ERROR(
        AppendTuple(*c.relation, *c.new_tuple, &line, &values.back(), &value_types.back()));
  }
  lines.push_back(std::move(line));
  return Status::Ok();
}

Status RecordingHandler::OnBegin(const TransactionBegin& b) {
  lines.push_back("begin xid=" + std::to_string(b.xid) + " final=" + FormatLsn(b.final_lsn) +
                  (b.prepared ? " prepared gid=" + std::string(b.gid) : ""));
  return Status::Ok();
}

Status RecordingHandler::OnCommit(const TransactionEnd& e) {
  lines.push_back("commit kind=" + std::to_string(static_cast<int>(e.kind)) +
                  " xid=" + std::to_string(e.xid) + " lsn=" + FormatLsn(e.commit_lsn) +
                  " end=" + FormatLsn(e.end_lsn) + " n=" + std::to_string(e.change_count) +
                  " gid=" + std::string(e.gid));
  return Status::Ok();
}

Status RecordingHandler::OnRelation(const Relation& rel, bool schema_changed) {
  lines.push_back("relation " + rel.qualified_name + " v" + std::to_string(rel.version) +
                  (schema_changed ? " changed" : ""));
  return Status::Ok();
}

Status RecordingHandler::OnStreamStart(Xid xid, bool first) {
  lines.push_back("stream start " + std::to_string(xid) + (first ? " first" : ""));
  return Status::Ok();
}

Status RecordingHandler::OnStreamStop() {
  lines.push_back("stream stop");
  return Status::Ok();
}

Status RecordingHandler::OnStreamAbort(const StreamAbort& a) {
  lines.push_back("stream abort " + std::to_string(a.xid) + " sub " + std::to_string(a.subxid));
  return Status::Ok();
}

Status RecordingHandler::OnOrigin(Lsn lsn, std::string_view name) {
  lines.push_back("origin " + FormatLsn(lsn) + " " + std::string(name));
  return Status::Ok();
}

}  // namespace pg2bq::testing
