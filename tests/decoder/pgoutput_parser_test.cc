#include "decoder/pgoutput_parser.h"

#include <gtest/gtest.h>

#include "tests/decoder/message_builder.h"

namespace pg2bq::testing {
namespace {

TEST(PgoutputParserTest, Begin) {
  PgoutputParser p;
  PgoutputMessage m;
  auto b = MessageBuilder('B').U64(0x16B374D848).U64(12345).U32(777);
  ASSERT_TRUE(p.Parse(b, &m).ok());
  EXPECT_EQ(m.type, PgoutputMessageType::kBegin);
  EXPECT_EQ(m.lsn, 0x16B374D848u);
  EXPECT_EQ(m.timestamp, 12345);
  EXPECT_EQ(m.xid, 777u);
}

TEST(PgoutputParserTest, CommitAndOrigin) {
  PgoutputParser p;
  PgoutputMessage m;
  ASSERT_TRUE(p.Parse(MessageBuilder('C').U8(0).U64(10).U64(20).U64(30), &m).ok());
  EXPECT_EQ(m.lsn, 10u);
  EXPECT_EQ(m.end_lsn, 20u);
  EXPECT_EQ(m.timestamp, 30);
  auto o = MessageBuilder('O').U64(99).Str("node_a");
  ASSERT_TRUE(p.Parse(o, &m).ok());
  EXPECT_EQ(m.type, PgoutputMessageType::kOrigin);
  EXPECT_EQ(m.lsn, 99u);
  EXPECT_EQ(m.name, "node_a");
}

TEST(PgoutputParserTest, RelationAndType) {
  PgoutputParser p;
  PgoutputMessage m;
  auto r = MessageBuilder('R').U32(16400).Str("public").Str("t").U8('f').U16(2);
  r.U8(1).Str("id").U32(20).U32(0xffffffff).U8(0).Str("v").U32(1043).U32(14);
  ASSERT_TRUE(p.Parse(r, &m).ok());
  EXPECT_EQ(m.oid, 16400u);
  EXPECT_EQ(m.nspname, "public");
  EXPECT_EQ(m.name, "t");
  EXPECT_EQ(m.replica_identity, 'f');
  ASSERT_EQ(m.relation_columns.size(), 2u);
  EXPECT_EQ(m.relation_columns[0].flags, 1);
  EXPECT_EQ(m.relation_columns[0].type_modifier, -1);
  EXPECT_EQ(m.relation_columns[1].name, "v");
  EXPECT_EQ(m.relation_columns[1].type_oid, 1043u);
  EXPECT_EQ(m.relation_columns[1].type_modifier, 14);
  auto y = MessageBuilder('Y').U32(16500).Str("public").Str("mood");
  ASSERT_TRUE(p.Parse(y, &m).ok());
  EXPECT_EQ(m.type, PgoutputMessageType::kType);
  EXPECT_EQ(m.name, "mood");
}

TEST(PgoutputParserTest, InsertAllColumnKinds) {
  PgoutputParser p;
  PgoutputMessage m;
  auto b = MessageBuilder('I').U32(5).U8('N').Cols(4).Null().Toast().Text("abc").Bin(
      std::string("\x00\x01", 2));
  ASSERT_TRUE(p.Parse(b, &m).ok());
  ASSERT_EQ(m.new_tuple.columns.size(), 4u);
  EXPECT_EQ(m.new_tuple.columns[0].state, ColumnState::kNull);
  EXPECT_EQ(m.new_tuple.columns[1].state, ColumnState::kUnchangedToast);
  EXPECT_EQ(m.new_tuple.columns[2].state, ColumnState::kText);
  EXPECT_EQ(m.new_tuple.columns[2].data, "abc");
  EXPECT_EQ(m.new_tuple.columns[3].state, ColumnState::kBinary);
  EXPECT_EQ(m.new_tuple.columns[3].data.size(), 2u);
  // Zero-copy: the value views the payload.
  const std::string& payload = b.str();
  EXPECT_GE(m.new_tuple.columns[2].data.data(), payload.data());
  EXPECT_LT(m.new_tuple.columns[2].data.data(), payload.data() + payload.size());
}

TEST(PgoutputParserTest, UpdateVariants) {
  PgoutputParser p;
  PgoutputMessage m;
  ASSERT_TRUE(p.Parse(MessageBuilder('U').U32(5).U8('N').Cols(1).Text("x"), &m).ok());
  EXPECT_EQ(m.old_kind, OldTupleKind::kNone);
  auto k = MessageBuilder('U').U32(5).U8('K').Cols(1).Text("k").U8('N').Cols(1).Text("x");
  ASSERT_TRUE(p.Parse(k, &m).ok());
  EXPECT_EQ(m.old_kind, OldTupleKind::kKey);
  EXPECT_EQ(m.old_tuple.columns[0].data, "k");
  ASSERT_TRUE(
      p.Parse(MessageBuilder('U').U32(5).U8('O').Cols(1).Null().U8('N').Cols(1).Text("x"), &m)
          .ok());
  EXPECT_EQ(m.old_kind, OldTupleKind::kFullTuple);
  EXPECT_FALSE(p.Parse(MessageBuilder('U').U32(5).U8('X').Cols(1).Text("x"), &m).ok());
  EXPECT_FALSE(
      p.Parse(MessageBuilder('U').U32(5).U8('K').Cols(1).Text("k").U8('K').Cols(0), &m).ok());
}

TEST(PgoutputParserTest, DeleteNeedsOldTuple) {
  PgoutputParser p;
  PgoutputMessage m;
  ASSERT_TRUE(p.Parse(MessageBuilder('D').U32(5).U8('K').Cols(1).Text("1"), &m).ok());
  EXPECT_EQ(m.old_kind, OldTupleKind::kKey);
  ASSERT_TRUE(p.Parse(MessageBuilder('D').U32(5).U8('O').Cols(1).Text("1"), &m).ok());
  EXPECT_EQ(m.old_kind, OldTupleKind::kFullTuple);
  Status s = p.Parse(MessageBuilder('D').U32(5).U8('N').Cols(1).Text("1"), &m);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "pgoutput Delete at byte 5: expected 'K' or 'O' tuple marker");
}

TEST(PgoutputParserTest, TruncateFlagsAndRelations) {
  PgoutputParser p;
  PgoutputMessage m;
  ASSERT_TRUE(p.Parse(MessageBuilder('T').U32(3).U8(3).U32(1).U32(2).U32(3), &m).ok());
  EXPECT_EQ(m.flags, kTruncateCascade | kTruncateRestartIdentity);
  EXPECT_EQ(m.truncate_relids, (std::vector<Oid>{1, 2, 3}));
  // A count that cannot fit is rejected before allocating.
  EXPECT_FALSE(p.Parse(MessageBuilder('T').U32(0x7fffffff).U8(0).U32(1), &m).ok());
  EXPECT_FALSE(p.Parse(MessageBuilder('T').U32(0xffffffff).U8(0), &m).ok());
}

TEST(PgoutputParserTest, LogicalMessage) {
  PgoutputParser p;
  PgoutputMessage m;
  auto msg = MessageBuilder('M').U8(1).U64(77).Str("pfx").U32(3).Raw(std::string_view("a\0b", 3));
  ASSERT_TRUE(p.Parse(msg, &m).ok());
  EXPECT_TRUE(m.transactional);
  EXPECT_EQ(m.lsn, 77u);
  EXPECT_EQ(m.name, "pfx");
  EXPECT_EQ(m.content, std::string_view("a\0b", 3));
  ASSERT_TRUE(p.Parse(MessageBuilder('M').U8(0).U64(77).Str("").U32(0), &m).ok());
  EXPECT_FALSE(m.transactional);
  EXPECT_FALSE(p.Parse(MessageBuilder('M').U8(0).U64(77).Str("").U32(4).Raw("abc"), &m).ok());
}

TEST(PgoutputParserTest, StreamedBlockCarriesXid) {
  PgoutputParser p;
  PgoutputMessage m;
  ASSERT_TRUE(p.Parse(MessageBuilder('S').U32(900).U8(1), &m).ok());
  EXPECT_TRUE(p.in_streamed_block());
  EXPECT_TRUE(m.first_segment);
  ASSERT_TRUE(p.Parse(MessageBuilder('I').U32(901).U32(5).U8('N').Cols(1).Text("x"), &m).ok());
  EXPECT_EQ(m.xid, 901u);
  EXPECT_EQ(m.oid, 5u);
  ASSERT_TRUE(
      p.Parse(MessageBuilder('R').U32(900).U32(5).Str("").Str("t").U8('d').U16(0), &m).ok());
  EXPECT_EQ(m.xid, 900u);
  ASSERT_TRUE(p.Parse(MessageBuilder('T').U32(900).U32(1).U8(0).U32(5), &m).ok());
  ASSERT_TRUE(p.Parse(MessageBuilder('M').U32(900).U8(1).U64(1).Str("p").U32(0), &m).ok());
  EXPECT_EQ(m.xid, 900u);
  EXPECT_FALSE(p.Parse(MessageBuilder('S').U32(900).U8(0), &m).ok()) << "nested Stream Start";
  ASSERT_TRUE(p.Parse(MessageBuilder('E'), &m).ok());
  EXPECT_FALSE(p.in_streamed_block());
  EXPECT_FALSE(p.Parse(MessageBuilder('E'), &m).ok()) << "Stream Stop without Start";
  ASSERT_TRUE(p.Parse(MessageBuilder('c').U32(900).U8(0).U64(1).U64(2).U64(3), &m).ok());
  EXPECT_EQ(m.xid, 900u);
  EXPECT_EQ(m.lsn, 1u);
  EXPECT_EQ(m.end_lsn, 2u);
  ASSERT_TRUE(p.Parse(MessageBuilder('A').U32(900).U32(902), &m).ok());
  EXPECT_EQ(m.subxid, 902u);
  EXPECT_FALSE(m.has_abort_info);
  // Protocol 4 (parallel streaming) appends abort LSN and time.
  ASSERT_TRUE(p.Parse(MessageBuilder('A').U32(900).U32(900).U64(55).U64(66), &m).ok());
  EXPECT_TRUE(m.has_abort_info);
  EXPECT_EQ(m.lsn, 55u);
  EXPECT_EQ(m.timestamp, 66);
  EXPECT_FALSE(p.Parse(MessageBuilder('A').U32(900).U32(900).U64(55), &m).ok());
}

TEST(PgoutputParserTest, TwoPhaseMessages) {
  PgoutputParser p;
  PgoutputMessage m;
  auto bp = MessageBuilder('b').U64(1).U64(2).U64(3).U32(4).Str("g1");
  ASSERT_TRUE(p.Parse(bp, &m).ok());
  EXPECT_EQ(m.type, PgoutputMessageType::kBeginPrepare);
  EXPECT_EQ(m.xid, 4u);
  EXPECT_EQ(m.name, "g1");
  ASSERT_TRUE(p.Parse(MessageBuilder('P').U8(0).U64(1).U64(2).U64(3).U32(4).Str("g1"), &m).ok());
  EXPECT_EQ(m.end_lsn, 2u);
  ASSERT_TRUE(p.Parse(MessageBuilder('K').U8(0).U64(5).U64(6).U64(7).U32(4).Str("g1"), &m).ok());
  EXPECT_EQ(m.lsn, 5u);
  ASSERT_TRUE(
      p.Parse(MessageBuilder('r').U8(0).U64(1).U64(2).U64(3).U64(4).U32(5).Str("g2"), &m).ok());
  EXPECT_EQ(m.prepare_timestamp, 3);
  EXPECT_EQ(m.timestamp, 4);
  EXPECT_EQ(m.xid, 5u);
  ASSERT_TRUE(p.Parse(MessageBuilder('p').U8(0).U64(1).U64(2).U64(3).U32(4).Str("g3"), &m).ok());
  EXPECT_EQ(m.type, PgoutputMessageType::kStreamPrepare);
}

TEST(PgoutputParserTest, ErrorsNameTypeAndOffset) {
  PgoutputParser p;
  PgoutputMessage m;
  Status s = p.Parse("", &m);
  EXPECT_TRUE(s.IsCorruption());
  s = p.Parse("Z", &m);
  EXPECT_EQ(s.message(), "pgoutput unknown message type 0x5a at byte 0: unknown message type");
  s = p.Parse(MessageBuilder('I').U32(5).U8('N').Cols(2).Text("a").U8('t').U32(10).Raw("abcd"), &m);
  EXPECT_EQ(
      s.message(),
      "pgoutput Insert at byte 19: truncated new tuple column 1 value (need 10 bytes, 4 left)");
  s = p.Parse(MessageBuilder('I').U32(5).U8('N').Cols(1).U8('x'), &m);
  EXPECT_EQ(s.message(), "pgoutput Insert at byte 8: new tuple column 0 has unknown kind byte 120");
  s = p.Parse(MessageBuilder('I').U32(5).U8('N').Cols(1).U8('t').U32(0x80000000), &m);
  EXPECT_NE(s.message().find("negative length"), std::string::npos);
  s = p.Parse(MessageBuilder('B').U64(1).U64(2).U32(3).U8(0), &m);
  EXPECT_EQ(s.message(), "pgoutput Begin at byte 21: 1 unexpected trailing bytes");
  s = p.Parse(MessageBuilder('R').U32(1).Raw("public"), &m);
  EXPECT_EQ(s.message(), "pgoutput Relation at byte 5: unterminated string namespace");
}

}  // namespace
}  // namespace pg2bq::testing
