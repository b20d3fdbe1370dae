#include "decoder/pgoutput_decoder.h"

#include <gtest/gtest.h>

#include "tests/decoder/message_builder.h"

namespace pg2bq::testing {
namespace {

struct Seen {
  ChangeKind kind;
  Xid xid, subxid;
  std::uint64_t ordinal;
  Lsn commit_lsn;
  bool streamed;
  std::string table;
};

class Collect : public ChangeHandler {
 public:
  Status OnChange(const Change& c) override {
    changes.push_back({c.kind, c.xid, c.subxid, c.ordinal, c.commit_lsn, c.streamed,
                       c.relation ? c.relation->qualified_name : ""});
    if (c.relation_ref) kept = *c.relation_ref;
    return fail_next ? Status::IoError("handler says no") : Status::Ok();
  }
  Status OnCommit(const TransactionEnd& e) override {
    ends.push_back(e);
    return Status::Ok();
  }
  Status OnRelation(const Relation& r, bool changed) override {
    relation_events.push_back(r.qualified_name + (changed ? " changed" : ""));
    return Status::Ok();
  }
  Status OnStreamAbort(const StreamAbort& a) override {
    aborts.push_back(a);
    return Status::Ok();
  }
  std::vector<Seen> changes;
  std::vector<TransactionEnd> ends;
  std::vector<StreamAbort> aborts;
  std::vector<std::string> relation_events;
  std::shared_ptr<const Relation> kept;
  bool fail_next = false;
};

std::string Rel(Oid oid, std::string_view name, int ncols, Xid stream_xid = 0) {
  MessageBuilder b('R');
  if (stream_xid) b.U32(stream_xid);
  b.U32(oid).Str("public").Str(name).U8('d').U16(static_cast<std::uint16_t>(ncols));
  for (int i = 0; i < ncols; ++i)
    b.U8(i == 0).Str("c" + std::to_string(i)).U32(23).U32(0xffffffff);
  return b.str();
}
std::string Ins(Oid oid, std::string_view v, Xid stream_xid = 0) {
  MessageBuilder b('I');
  if (stream_xid) b.U32(stream_xid);
  return b.U32(oid).U8('N').Cols(1).Text(v).str();
}
std::string Begin(Lsn final_lsn, Xid xid) {
  return MessageBuilder('B').U64(final_lsn).U64(0).U32(xid).str();
}
std::string Commit(Lsn lsn, Lsn end) {
  return MessageBuilder('C').U8(0).U64(lsn).U64(end).U64(0).str();
}

TEST(PgoutputDecoderTest, OrdinalsAndCommitLsn) {
  Collect h;
  PgoutputDecoder d(&h);
  ASSERT_TRUE(d.Decode(1, Rel(10, "t", 1)).ok());
  ASSERT_TRUE(d.Decode(2, Begin(0x500, 7)).ok());
  EXPECT_TRUE(d.in_transaction());
  ASSERT_TRUE(d.Decode(3, Ins(10, "1")).ok());
  ASSERT_TRUE(d.Decode(4, Ins(10, "2")).ok());
  ASSERT_TRUE(d.Decode(5, Commit(0x500, 0x510)).ok());
  ASSERT_TRUE(d.Decode(6, Begin(0x600, 8)).ok());
  ASSERT_TRUE(d.Decode(7, Ins(10, "3")).ok());
  ASSERT_TRUE(d.Decode(8, Commit(0x600, 0x610)).ok());
  ASSERT_EQ(h.changes.size(), 3u);
  EXPECT_EQ(h.changes[0].ordinal, 0u);
  EXPECT_EQ(h.changes[1].ordinal, 1u);
  EXPECT_EQ(h.changes[1].commit_lsn, 0x500u);
  EXPECT_EQ(h.changes[1].xid, 7u);
  EXPECT_EQ(h.changes[2].ordinal, 0u);
  EXPECT_EQ(h.changes[2].commit_lsn, 0x600u);
  EXPECT_EQ(h.changes[2].table, "public.t");
  ASSERT_EQ(h.ends.size(), 2u);
  EXPECT_EQ(h.ends[0].change_count, 2u);
  EXPECT_EQ(h.ends[0].end_lsn, 0x510u);
  EXPECT_EQ(h.ends[0].xid, 7u);
}

TEST(PgoutputDecoderTest, ProtocolOrderViolations) {
  Collect h;
  PgoutputDecoder d(&h);
  Status s = d.Decode(1, Ins(10, "1"));
  EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition);
  ASSERT_TRUE(d.Decode(2, Begin(0x500, 7)).ok());
  s = d.Decode(3, Ins(10, "1"));
  EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("before any Relation message"), std::string::npos) << s.message();
  EXPECT_FALSE(d.Decode(4, Begin(0x600, 8)).ok()) << "nested Begin";
  ASSERT_TRUE(d.Decode(5, Rel(10, "t", 2)).ok());
  s = d.Decode(6, Ins(10, "1"));
  EXPECT_TRUE(s.IsCorruption()) << "1 column for a 2-column relation: " << s.ToString();
  ASSERT_TRUE(d.Decode(7, Commit(0x500, 0x510)).ok());
  EXPECT_FALSE(d.Decode(8, Commit(0x500, 0x510)).ok()) << "Commit without Begin";
  s = d.Decode(0x1234, "Z");
  EXPECT_NE(s.message().find("XLogData at LSN 0/1234"), std::string::npos) << s.message();
}

TEST(PgoutputDecoderTest, SchemaChangeKeepsOldRelationAlive) {
  Collect h;
  PgoutputDecoder d(&h);
  ASSERT_TRUE(d.Decode(1, Rel(10, "t", 1)).ok());
  ASSERT_TRUE(d.Decode(2, Rel(10, "t", 1)).ok());  // identical re-send
  ASSERT_TRUE(d.Decode(3, Begin(0x500, 7)).ok());
  ASSERT_TRUE(d.Decode(4, Ins(10, "1")).ok());
  std::shared_ptr<const Relation> v1 = h.kept;
  ASSERT_TRUE(d.Decode(5, Rel(10, "t", 2)).ok());  // ALTER TABLE ADD COLUMN
  EXPECT_EQ(h.relation_events,
            (std::vector<std::string>{"public.t", "public.t", "public.t changed"}));
  EXPECT_EQ(v1->version, 1u);
  EXPECT_EQ(v1->columns.size(), 1u);
  const auto* now = d.relations().Find(10);
  ASSERT_NE(now, nullptr);
  EXPECT_EQ((*now)->version, 2u);
  EXPECT_EQ((*now)->columns.size(), 2u);
}

TEST(PgoutputDecoderTest, InterleavedStreamedTransactionsAndSubtransactionAbort) {
  Collect h;
  PgoutputDecoder d(&h);
  ASSERT_TRUE(d.Decode(1, MessageBuilder('S').U32(100).U8(1)).ok());
  ASSERT_TRUE(d.Decode(2, Rel(10, "t", 1, 100)).ok());
  ASSERT_TRUE(d.Decode(3, Ins(10, "a", 100)).ok());
  ASSERT_TRUE(d.Decode(4, Ins(10, "b", 101)).ok());  // subtransaction 101
  ASSERT_TRUE(d.Decode(5, MessageBuilder('E')).ok());
  ASSERT_TRUE(d.Decode(6, MessageBuilder('S').U32(200).U8(1)).ok());
  ASSERT_TRUE(d.Decode(7, Ins(10, "x", 200)).ok());
  ASSERT_TRUE(d.Decode(8, MessageBuilder('E')).ok());
  // A normal transaction between stream blocks.
  ASSERT_TRUE(d.Decode(9, Begin(0x900, 300)).ok());
  ASSERT_TRUE(d.Decode(10, Ins(10, "n")).ok());
  ASSERT_TRUE(d.Decode(11, Commit(0x900, 0x910)).ok());
  ASSERT_TRUE(d.Decode(12, MessageBuilder('S').U32(100).U8(0)).ok());
  ASSERT_TRUE(d.Decode(13, Ins(10, "c", 100)).ok());
  ASSERT_TRUE(d.Decode(14, MessageBuilder('E')).ok());
  ASSERT_TRUE(d.Decode(15, MessageBuilder('A').U32(100).U32(101)).ok());
  ASSERT_TRUE(d.Decode(16, MessageBuilder('c').U32(100).U8(0).U64(0xA00).U64(0xA10).U64(0)).ok());
  ASSERT_TRUE(d.Decode(17, MessageBuilder('A').U32(200).U32(200)).ok());

  ASSERT_EQ(h.changes.size(), 5u);
  EXPECT_TRUE(h.changes[0].streamed);
  EXPECT_EQ(h.changes[0].commit_lsn, kInvalidLsn);
  EXPECT_EQ(h.changes[1].xid, 100u);
  EXPECT_EQ(h.changes[1].subxid, 101u);
  EXPECT_EQ(h.changes[1].ordinal, 1u);
  EXPECT_EQ(h.changes[2].xid, 200u);
  EXPECT_EQ(h.changes[2].ordinal, 0u);
  EXPECT_FALSE(h.changes[3].streamed);
  EXPECT_EQ(h.changes[3].commit_lsn, 0x900u);
  EXPECT_EQ(h.changes[4].xid, 100u);
  EXPECT_EQ(h.changes[4].ordinal, 2u) << "ordinals continue across stream blocks";
  ASSERT_EQ(h.aborts.size(), 2u);
  EXPECT_EQ(h.aborts[0].subxid, 101u);
  ASSERT_EQ(h.ends.size(), 2u);
  EXPECT_EQ(h.ends[1].kind, TransactionEnd::Kind::kStreamCommit);
  EXPECT_EQ(h.ends[1].commit_lsn, 0xA00u);
  EXPECT_EQ(h.ends[1].change_count, 3u);
  // Begin inside a streamed block is a protocol violation.
  ASSERT_TRUE(d.Decode(18, MessageBuilder('S').U32(400).U8(1)).ok());
  EXPECT_FALSE(d.Decode(19, Begin(1, 2)).ok());
}

TEST(PgoutputDecoderTest, TruncateOneChangePerRelationAndMessages) {
  Collect h;
  PgoutputDecoder d(&h);
  ASSERT_TRUE(d.Decode(1, Rel(10, "a", 1)).ok());
  ASSERT_TRUE(d.Decode(2, Rel(11, "b", 1)).ok());
  ASSERT_TRUE(d.Decode(3, MessageBuilder('M').U8(0).U64(5).Str("p").U32(1).Raw("x")).ok());
  ASSERT_TRUE(d.Decode(4, Begin(0x500, 7)).ok());
  ASSERT_TRUE(d.Decode(5, MessageBuilder('T').U32(2).U8(1).U32(10).U32(11)).ok());
  ASSERT_TRUE(d.Decode(6, MessageBuilder('M').U8(1).U64(5).Str("p").U32(0)).ok());
  EXPECT_FALSE(d.Decode(7, MessageBuilder('T').U32(1).U8(0).U32(99)).ok()) << "unknown relation";
  ASSERT_EQ(h.changes.size(), 4u);
  EXPECT_EQ(h.changes[0].kind, ChangeKind::kMessage);
  EXPECT_EQ(h.changes[0].xid, kInvalidXid);
  EXPECT_EQ(h.changes[1].table, "public.a");
  EXPECT_EQ(h.changes[2].table, "public.b");
  EXPECT_EQ(h.changes[2].ordinal, 1u);
  EXPECT_EQ(h.changes[3].kind, ChangeKind::kMessage);
  EXPECT_EQ(h.changes[3].ordinal, 2u);
  EXPECT_EQ(h.changes[3].commit_lsn, 0x500u);
}

TEST(PgoutputDecoderTest, HandlerErrorStopsDecoding) {
  Collect h;
  PgoutputDecoder d(&h);
  ASSERT_TRUE(d.Decode(1, Rel(10, "t", 1)).ok());
  ASSERT_TRUE(d.Decode(2, Begin(0x500, 7)).ok());
  h.fail_next = true;
  Status s = d.Decode(3, Ins(10, "1"));
  EXPECT_EQ(s.code(), Status::Code::kIoError);
}

TEST(PgoutputDecoderTest, TypeMessageResolvesDomainOverBuiltin) {
  Collect h;
  PgoutputDecoder d(&h);
  EXPECT_FALSE(d.types().IsKnown(16392));
  ASSERT_TRUE(d.Decode(1, MessageBuilder('Y').U32(16392).Str("").Str("int4")).ok());
  PgType t = d.types().Resolve(16392);
  EXPECT_EQ(t.kind, PgTypeKind::kInt4);
  EXPECT_EQ(t.oid, 16392u);
  ASSERT_TRUE(d.Decode(2, MessageBuilder('Y').U32(16393).Str("").Str("_text")).ok());
  EXPECT_EQ(d.types().Resolve(16393).kind, PgTypeKind::kArray);
  EXPECT_EQ(d.types().Resolve(16393).element, PgTypeKind::kText);
  // A user type in another schema is only named, not resolved.
  ASSERT_TRUE(d.Decode(3, MessageBuilder('Y').U32(16394).Str("public").Str("mood")).ok());
  EXPECT_FALSE(d.types().IsKnown(16394));
  EXPECT_EQ(d.types().NameOf(16394), "public.mood");
}

TEST(PgTypeRegistryTest, EnumsDomainsArrays) {
  PgTypeRegistry r;
  EXPECT_EQ(r.Resolve(pg_oid::kInt8).kind, PgTypeKind::kInt8);
  EXPECT_EQ(r.Resolve(1009).kind, PgTypeKind::kArray);
  EXPECT_EQ(r.Resolve(1009).element_oid, pg_oid::kText);
  ASSERT_TRUE(r.Register({500, 'e', 'E', 0, 0, "mood"}).ok());
  ASSERT_TRUE(r.Register({501, 'b', 'A', 0, 500, "_mood"}).ok());
  ASSERT_TRUE(r.Register({502, 'd', 'N', 503, 0, "outer"}).ok());  // domain over a domain
  ASSERT_TRUE(r.Register({503, 'd', 'N', pg_oid::kNumeric, 0, "inner"}).ok());
  ASSERT_TRUE(r.Register({504, 'b', 'A', 0, 502, "_outer"}).ok());
  ASSERT_TRUE(r.Register({505, 'c', 'C', 0, 0, "composite"}).ok());
  ASSERT_TRUE(r.Register({506, 'd', 'N', 506, 0, "loop"}).ok());
  EXPECT_EQ(r.Resolve(500).kind, PgTypeKind::kEnum);
  EXPECT_EQ(r.Resolve(501).kind, PgTypeKind::kArray);
  EXPECT_EQ(r.Resolve(501).element, PgTypeKind::kEnum);
  EXPECT_EQ(r.Resolve(502).kind, PgTypeKind::kNumeric);
  EXPECT_EQ(r.Resolve(504).element, PgTypeKind::kNumeric);
  EXPECT_EQ(r.Resolve(504).element_oid, 502u);
  EXPECT_FALSE(r.IsKnown(505));
  EXPECT_FALSE(r.IsKnown(506)) << "a cycle resolves to unknown, not a hang";
  EXPECT_FALSE(r.Register({507, 'd', 'N', 0, 0, "nobase"}).ok());
}

}  // namespace
}  // namespace pg2bq::testing
