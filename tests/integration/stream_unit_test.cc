// Unit tests (no server) for the stream's pure parts: replication sub-protocol bytes,
// error classification, JSON string escaping and the JSON line renderer.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "agent/change_json.h"
#include "agent/pg_connection.h"
#include "agent/replication_protocol.h"

namespace pg2bq::agent {
namespace {

std::string U64(std::uint64_t v) {
  std::string s;
  for (int i = 7; i >= 0; --i)
    s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return s;
}

TEST(ReplicationProtocolTest, ParsesXLogData) {
  std::string msg = "w" + U64(0x16B374D848) + U64(0x16B374D900) + U64(12345) + "payload";
  XLogData x;
  ASSERT_TRUE(ParseXLogData(msg, &x).ok());
  EXPECT_EQ(x.wal_start, 0x16B374D848u);
  EXPECT_EQ(x.wal_end, 0x16B374D900u);
  EXPECT_EQ(x.send_time, 12345);
  EXPECT_EQ(x.payload, "payload");
  EXPECT_TRUE(ParseXLogData(msg.substr(0, 24), &x).IsCorruption());
  EXPECT_TRUE(ParseXLogData("k" + msg.substr(1), &x).IsCorruption());
}

TEST(ReplicationProtocolTest, ParsesKeepalive) {
  PrimaryKeepalive k;
  ASSERT_TRUE(ParsePrimaryKeepalive("k" + U64(0xABCDEF) + U64(7) + std::string(1, '\1'), &k).ok());
  EXPECT_EQ(k.wal_end, 0xABCDEFu);
  EXPECT_EQ(k.send_time, 7);
  EXPECT_TRUE(k.reply_requested);
  ASSERT_TRUE(ParsePrimaryKeepalive("k" + U64(1) + U64(2) + std::string(1, '\0'), &k).ok());
  EXPECT_FALSE(k.reply_requested);
  EXPECT_TRUE(ParsePrimaryKeepalive("k" + U64(1) + U64(2), &k).IsCorruption());
}

TEST(ReplicationProtocolTest, BuildsStandbyStatusUpdate) {
  std::string m = BuildStandbyStatusUpdate(1, 2, 3, 4, true);
  EXPECT_EQ(m, "r" + U64(1) + U64(2) + U64(3) + U64(4) + std::string(1, '\1'));
  EXPECT_EQ(BuildStandbyStatusUpdate(0, 0, 0, 0, false).size(), 34u);
}

TEST(ErrorClassificationTest, ConnectErrors) {
  const std::string where = "db:5432";
  auto c = [&](const char* m) {
    return ClassifyConnectError(m, where, "repl", ConnectionKind::kReplication);
  };
  EXPECT_EQ(c("FATAL:  password authentication failed for user \"repl\"").code(),
            Status::Code::kPermissionDenied);
  EXPECT_EQ(c("fe_sendauth: no password supplied").code(), Status::Code::kPermissionDenied);
  Status s = c("FATAL:  must be superuser or replication role to start walsender");
  EXPECT_EQ(s.code(), Status::Code::kPermissionDenied);
  EXPECT_NE(s.message().find("ALTER ROLE \"repl\" WITH REPLICATION"), std::string::npos);
  EXPECT_EQ(c("FATAL:  no pg_hba.conf entry for replication connection").code(),
            Status::Code::kPermissionDenied);
  EXPECT_EQ(c("FATAL:  database \"nope\" does not exist").code(), Status::Code::kNotFound);
  EXPECT_EQ(c("FATAL:  the database system is starting up").code(), Status::Code::kUnavailable);
  s = c("connection to server at \"db\" (10.0.0.1), port 5432 failed: Connection refused");
  EXPECT_EQ(s.code(), Status::Code::kUnavailable);
  EXPECT_NE(s.message().find("cannot reach PostgreSQL at db:5432"), std::string::npos);
}

TEST(ErrorClassificationTest, ServerErrorsBySqlstate) {
  const std::string w = "db:5432";
  EXPECT_EQ(ClassifyServerError("42704", "replication slot \"s\" does not exist", "", "", w).code(),
            Status::Code::kNotFound);
  Status s = ClassifyServerError("55006", "replication slot \"s\" is active for PID 42", "", "", w);
  EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("in use by another process"), std::string::npos);
  EXPECT_EQ(
      ClassifyServerError("55000", "logical decoding requires wal_level >= logical", "", "", w)
          .code(),
      Status::Code::kFailedPrecondition);
  EXPECT_EQ(ClassifyServerError("42501", "permission denied", "", "", w).code(),
            Status::Code::kPermissionDenied);
  EXPECT_EQ(ClassifyServerError("57P01", "terminating connection", "", "", w).code(),
            Status::Code::kUnavailable);
  s = ClassifyServerError("XX000", "boom", "some detail", "some hint", w);
  EXPECT_EQ(s.code(), Status::Code::kInternal);
  EXPECT_NE(s.message().find("some detail"), std::string::npos);
  EXPECT_NE(s.message().find("SQLSTATE XX000, PostgreSQL at db:5432"), std::string::npos);
}

std::string Json(std::string_view s) {
  std::string out;
  AppendJsonString(s, &out);
  return out;
}

TEST(JsonStringTest, EscapesAndKeepsValidUtf8) {
  EXPECT_EQ(Json("plain"), "\"plain\"");
  EXPECT_EQ(Json("q\"b\\n\nt\tc\x01"), "\"q\\\"b\\\\n\\nt\\tc\\u0001\"");
  EXPECT_EQ(Json("\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80"),
            "\"\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80\"");
  EXPECT_EQ(Json(std::string_view("a\0b", 3)), "\"a\\u0000b\"");
  // Invalid: lone continuation, truncated sequence, overlong, surrogate, > U+10FFFF.
  for (std::string_view bad : {"\x80", "\xC3", "\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80"}) {
    std::string out = Json(bad);
    EXPECT_TRUE(nlohmann::json::accept(out)) << out;
    EXPECT_NE(out.find("\xEF\xBF\xBD"), std::string::npos);
  }
}

class ChangeJsonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rel_.oid = 1234;
    rel_.nspname = "public";
    rel_.name = "t";
    rel_.qualified_name = "public.t";
    rel_.columns = {{"id", pg_oid::kInt4, -1, true},
                    {"note", pg_oid::kText, -1, false},
                    {"big", pg_oid::kText, -1, false}};
  }
  Relation rel_;
  PgTypeRegistry types_;
};

TEST_F(ChangeJsonTest, RendersUpdateWithKeyImageNullAndUnchangedToast) {
  TupleData new_tuple, old_tuple;
  new_tuple.columns = {
      {ColumnState::kText, "2"}, {ColumnState::kNull, {}}, {ColumnState::kUnchangedToast, {}}};
  old_tuple.columns = {
      {ColumnState::kText, "1"}, {ColumnState::kNull, {}}, {ColumnState::kNull, {}}};
  Change c;
  c.kind = ChangeKind::kUpdate;
  c.relation = &rel_;
  c.lsn = 0x10;
  c.commit_lsn = 0x20;
  c.xid = 77;
  c.new_tuple = &new_tuple;
  c.old_kind = OldTupleKind::kKey;
  c.old_tuple = &old_tuple;
  ChangeJsonWriter w(&types_);
  std::string line;
  ChangeJsonWriter::AppendPrefix(c.lsn, c.commit_lsn, &line);
  ASSERT_TRUE(w.AppendBody(c, &line).ok());
  EXPECT_EQ(line,
            "{\"lsn\":\"0/10\",\"commit_lsn\":\"0/20\",\"xid\":77,\"table\":\"public.t\","
            "\"op\":\"update\",\"new\":{\"id\":\"2\",\"note\":null,\"big\":{\"unchanged_toast\":"
            "true}},\"old\":{\"id\":\"1\"}}\n");
  EXPECT_TRUE(nlohmann::json::accept(line));
}

TEST_F(ChangeJsonTest, RejectsUndecodableText) {
  TupleData t;
  t.columns = {
      {ColumnState::kText, "not-an-int"}, {ColumnState::kNull, {}}, {ColumnState::kNull, {}}};
  Change c;
  c.kind = ChangeKind::kInsert;
  c.relation = &rel_;
  c.new_tuple = &t;
  ChangeJsonWriter w(&types_);
  std::string line;
  Status s = w.AppendBody(c, &line);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("column id"), std::string::npos) << s.ToString();
  EXPECT_FALSE(w.DecodeValues(c).ok());
}

TEST_F(ChangeJsonTest, RendersTruncateAndMessage) {
  ChangeJsonWriter w(&types_);
  Change t;
  t.kind = ChangeKind::kTruncate;
  t.relation = &rel_;
  t.cascade = true;
  std::string line;
  ASSERT_TRUE(w.AppendBody(t, &line).ok());
  EXPECT_EQ(line,
            ",\"xid\":null,\"table\":\"public.t\",\"op\":\"truncate\",\"cascade\":true,"
            "\"restart_identity\":false}\n");
  Change m;
  m.kind = ChangeKind::kMessage;
  m.prefix = "p";
  m.content = "c\"";
  m.xid = 5;
  line.clear();
  ChangeJsonWriter::AppendPrefix(0x30, kInvalidLsn, &line);
  ASSERT_TRUE(w.AppendBody(m, &line).ok());
  EXPECT_EQ(line,
            "{\"lsn\":\"0/30\",\"commit_lsn\":null,\"xid\":5,\"table\":null,\"op\":"
            "\"message\",\"transactional\":false,\"prefix\":\"p\",\"content\":\"c\\\"\"}\n");
}

}  // namespace
}  // namespace pg2bq::agent
