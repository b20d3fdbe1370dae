#include "sink/row_encoder.h"

#include <gtest/gtest.h>

#include <cmath>

#include "row_test_util.h"
#include "sink/change_sequence.h"
#include "sink/pg_text.h"
#include "source_columns.h"

namespace pg2bq::sink {
namespace {

using google::protobuf::Message;
using testing::Field;

using testing::Col;
using testing::NumericTypmod;

// A two-column table (id int8 key, v <type>), one INSERT of `text`.
class OneValue {
 public:
  OneValue(SourceColumn value_column, EncodePolicies policies = {},
           DescriptorOptions options = {}) {
    SourceRelation r;
    r.oid = 1;
    r.schema = "public";
    r.name = "t";
    r.columns = {Col("id", oid::kInt8, -1, true), std::move(value_column)};
    auto d = BuildTableDescriptor(r, options, 1);
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    descriptor_ = *d;
    encoder_ = std::make_unique<RowEncoder>(descriptor_, policies);
    parser_ = std::make_unique<testing::RowParser>(*descriptor_);
  }
  EncodeResult Encode(std::string_view text, bool is_null = false) {
    values_ = {SourceValue::Text("7"), is_null ? SourceValue::Null() : SourceValue::Text(text)};
    SourceChange c;
    c.kind = ChangeKind::kInsert;
    c.commit_lsn = 0x1234;
    c.ordinal = 1;
    c.new_values = values_;
    batch_.Clear();
    return encoder_->Encode(c, &batch_);
  }
  std::unique_ptr<Message> Row(std::size_t i = 0) { return parser_->Parse(batch_.RowMessage(i)); }
  const EncodedBatch& batch() const { return batch_; }

 private:
  std::shared_ptr<const TableDescriptor> descriptor_;
  std::unique_ptr<RowEncoder> encoder_;
  std::unique_ptr<testing::RowParser> parser_;
  std::vector<SourceValue> values_;
  EncodedBatch batch_;
};

std::int64_t I64(const Message& m, const char* f = "v") {
  return m.GetReflection()->GetInt64(m, Field(m, f));
}
std::int32_t I32(const Message& m, const char* f = "v") {
  return m.GetReflection()->GetInt32(m, Field(m, f));
}
std::string Str(const Message& m, const char* f = "v") {
  return m.GetReflection()->GetString(m, Field(m, f));
}
bool Has(const Message& m, const char* f = "v") {
  return m.GetReflection()->HasField(m, Field(m, f));
}

TEST(RowEncoderTest, BoolIntegersFloats) {
  OneValue b(Col("v", oid::kBool));
  ASSERT_EQ(b.Encode("t").outcome, EncodeResult::Outcome::kEncoded);
  EXPECT_TRUE(b.Row()->GetReflection()->GetBool(*b.Row(), Field(*b.Row(), "v")));
  OneValue i(Col("v", oid::kInt8));
  ASSERT_EQ(i.Encode("-9223372036854775808").outcome, EncodeResult::Outcome::kEncoded);
  EXPECT_EQ(I64(*i.Row()), INT64_MIN);
  EXPECT_EQ(I64(*i.Row(), "id"), 7);
  OneValue f(Col("v", oid::kFloat8));
  for (const char* text : {"NaN", "Infinity", "-Infinity", "1.2345678901234567e-300"}) {
    ASSERT_EQ(f.Encode(text).outcome, EncodeResult::Outcome::kEncoded);
    auto row = f.Row();
    const double v = row->GetReflection()->GetDouble(*row, Field(*row, "v"));
    if (std::string(text) == "NaN") {
      EXPECT_TRUE(std::isnan(v));
    } else {
      EXPECT_EQ(v, std::stod(text)) << text;
    }
  }
}

TEST(RowEncoderTest, NullIsAbsentField) {
  OneValue t(Col("v", oid::kText));
  ASSERT_EQ(t.Encode("", true).outcome, EncodeResult::Outcome::kEncoded);
  EXPECT_FALSE(Has(*t.Row()));
  ASSERT_EQ(t.Encode("").outcome, EncodeResult::Outcome::kEncoded);
  EXPECT_TRUE(Has(*t.Row()));  // empty string is not NULL
}

TEST(RowEncoderTest, CdcPseudoColumns) {
  OneValue t(Col("v", oid::kText));
  ASSERT_EQ(t.Encode("x").outcome, EncodeResult::Outcome::kEncoded);
  EXPECT_EQ(Str(*t.Row(), "_CHANGE_TYPE"), "UPSERT");
  EXPECT_EQ(Str(*t.Row(), "_CHANGE_SEQUENCE_NUMBER"), "0000000000001234/0000000000000001");
  EXPECT_EQ(t.batch().rows[0].commit_lsn, 0x1234u);
}

// The encoder reuses the last formatted sequence number (every copied row has the same one):
// a change of LSN or ordinal alone must still give the row its own.
TEST(RowEncoderTest, EveryRowCarriesItsOwnSequenceNumber) {
  SourceRelation r;
  r.oid = 1;
  r.schema = "public";
  r.name = "t";
  r.columns = {Col("id", oid::kInt8, -1, true)};
  auto d = BuildTableDescriptor(r, {}, 1);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  RowEncoder encoder(*d, {});
  testing::RowParser parser(**d);
  const std::vector<SourceValue> values = {SourceValue::Text("7")};
  const std::pair<Lsn, std::uint64_t> changes[] = {{0x1234, 1}, {0x1234, 1}, {0x1234, 2},
                                                   {0x1235, 2}, {0x1234, 1}, {0, 0}};
  EncodedBatch batch;
  for (const auto& [lsn, ordinal] : changes) {
    SourceChange c;
    c.commit_lsn = lsn;
    c.ordinal = ordinal;
    c.new_values = values;
    ASSERT_EQ(encoder.Encode(c, &batch).outcome, EncodeResult::Outcome::kEncoded);
  }
  for (std::size_t i = 0; i < std::size(changes); ++i) {
    EXPECT_EQ(Str(*parser.Parse(batch.RowMessage(i)), "_CHANGE_SEQUENCE_NUMBER"),
              FormatChangeSequence(changes[i].first, changes[i].second))
        << i;
  }
}

TEST(RowEncoderTest, NumericExactAndLimits) {
  OneValue n(Col("v", oid::kNumeric, NumericTypmod(38, 9)));
  ASSERT_EQ(n.Encode("-00012345678901234567890123456789.123456789").outcome,
            EncodeResult::Outcome::kEncoded);
  EXPECT_EQ(Str(*n.Row()), "-12345678901234567890123456789.123456789");
  ASSERT_EQ(n.Encode("1.500").outcome, EncodeResult::Outcome::kEncoded);
  EXPECT_EQ(Str(*n.Row()), "1.5");

  OneValue big(Col("v", oid::kNumeric));  // unconstrained -> BIGNUMERIC
  ASSERT_EQ(
      big.Encode("578960446186580977117854925043439539266.34992332820282019728792003956564819967")
          .outcome,
      EncodeResult::Outcome::kEncoded);
  auto r =
      big.Encode("578960446186580977117854925043439539266.34992332820282019728792003956564819968");
  EXPECT_EQ(r.outcome, EncodeResult::Outcome::kRejected);
  EXPECT_NE(r.reason.find("outside BIGNUMERIC"), std::string::npos) << r.reason;
  EXPECT_EQ(
      big.Encode("-578960446186580977117854925043439539266.34992332820282019728792003956564819968")
          .outcome,
      EncodeResult::Outcome::kEncoded);
  EXPECT_EQ(big.Encode("0." + std::string(38, '0') + "1").outcome,
            EncodeResult::Outcome::kRejected);
  EXPECT_EQ(big.Encode("0." + std::string(37, '0') + "10").outcome,
            EncodeResult::Outcome::kEncoded);
  r = big.Encode("NaN");
  EXPECT_EQ(r.outcome, EncodeResult::Outcome::kRejected);

  EncodePolicies nulls;
  nulls.numeric_special = ValuePolicy::kNull;
  nulls.numeric_out_of_range = ValuePolicy::kNull;
  OneValue lenient(Col("v", oid::kNumeric), nulls);
  r = lenient.Encode("Infinity");
  ASSERT_EQ(r.outcome, EncodeResult::Outcome::kEncoded);
  EXPECT_FALSE(Has(*lenient.Row()));
  ASSERT_EQ(r.issues.size(), 1u);
  EXPECT_TRUE(r.issues[0].lossy);
  EXPECT_EQ(r.issues[0].value, "Infinity");
  r = lenient.Encode("1e" + std::string("0"));  // not numeric text
  EXPECT_EQ(r.outcome, EncodeResult::Outcome::kRejected);

  // Declared wider than BIGNUMERIC: STRING, exact text, NaN too.
  OneValue wide(Col("v", oid::kNumeric, NumericTypmod(80, 0)));
  ASSERT_EQ(wide.Encode("NaN").outcome, EncodeResult::Outcome::kEncoded);
  EXPECT_EQ(Str(*wide.Row()), "NaN");

  DescriptorOptions as_string;
  as_string.mapping.numeric_unconstrained = MappingOptions::UnconstrainedNumeric::kString;
  OneValue s(Col("v", oid::kNumeric), {}, as_string);
  ASSERT_EQ(s.Encode("1.0000000000000000000000000000000000000000000001").outcome,
            EncodeResult::Outcome::kEncoded);
  EXPECT_EQ(Str(*s.Row()), "1.0000000000000000000000000000000000000000000001");
}

TEST(RowEncoderTest, Money) {
  OneValue m(Col("v", oid::kMoney));
  ASSERT_EQ(m.Encode("-$92,233,720,368,547,758.08").outcome, EncodeResult::Outcome::kEncoded);
  EXPECT_EQ(Str(*m.Row()), "-92233720368547758.08");
}

TEST(RowEncoderTest, TextBytesJsonHstore) {
  OneValue t(Col("v", oid::kText));
  ASSERT_EQ(t.Encode("héllo").outcome, EncodeResult::Outcome::kEncoded);
  EXPECT_EQ(Str(*t.Row()), "héllo");
  auto r = t.Encode("bad \xff");
  EXPECT_EQ(r.outcome, EncodeResult::Outcome::kRejected);
  EXPECT_NE(r.reason.find("UTF-8"), std::string::npos);

  OneValue b(Col("v", oid::kBytea));
  ASSERT_EQ(b.Encode("\\x00ff10").outcome, EncodeResult::Outcome::kEncoded);
  EXPECT_EQ(Str(*b.Row()), std::string("\x00\xff\x10", 3));

  OneValue j(Col("v", oid::kJsonb));
  ASSERT_EQ(j.Encode(R"({"a": [1, 2.5, null]})").outcome, EncodeResult::Outcome::kEncoded);
  EXPECT_EQ(Str(*j.Row()), R"({"a": [1, 2.5, null]})");

  SourceColumn h = Col("v", 99999);
  h.type_name = "hstore";
  OneValue hs(h);
  ASSERT_EQ(hs.Encode(R"("k"=>"v", "n"=>NULL)").outcome, EncodeResult::Outcome::kEncoded);
  EXPECT_EQ(Str(*hs.Row()), R"({"k":"v","n":null})");

  OneValue u(Col("v", oid::kUuid));
  ASSERT_EQ(u.Encode("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11").outcome,
            EncodeResult::Outcome::kEncoded);
  EXPECT_EQ(Str(*u.Row()), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
}

TEST(RowEncoderTest, Dates) {
  OneValue d(Col("v", oid::kDate));
  ASSERT_EQ(d.Encode("1969-12-31").outcome, EncodeResult::Outcome::kEncoded);
  EXPECT_EQ(I32(*d.Row()), -1);
  ASSERT_EQ(d.Encode("0001-01-01").outcome, EncodeResult::Outcome::kEncoded);
  EXPECT_EQ(I32(*d.Row()), -719162);
  auto r = d.Encode("infinity");  // default: clamp, reported, not lossy
  ASSERT_EQ(r.outcome, EncodeResult::Outcome::kEncoded);
  EXPECT_EQ(I32(*d.Row()), 2932896);
  ASSERT_EQ(r.issues.size(), 1u);
  EXPECT_FALSE(r.issues[0].lossy);
  ASSERT_EQ(d.Encode("-infinity").outcome, EncodeResult::Outcome::kEncoded);
  EXPECT_EQ(I32(*d.Row()), -719162);
  EXPECT_EQ(d.Encode("0001-12-31 BC").outcome, EncodeResult::Outcome::kRejected);
  EXPECT_EQ(d.Encode("10000-01-01").outcome, EncodeResult::Outcome::kRejected);

  EncodePolicies p;
  p.infinity = ValuePolicy::kReject;
  p.out_of_range = ValuePolicy::kNull;
  OneValue strict(Col("v", oid::kDate), p);
  EXPECT_EQ(strict.Encode("infinity").outcome, EncodeResult::Outcome::kRejected);
  r = strict.Encode("10000-01-01");
  ASSERT_EQ(r.outcome, EncodeResult::Outcome::kEncoded);
  EXPECT_FALSE(Has(*strict.Row()));
  EXPECT_TRUE(r.issues.at(0).lossy);
}

TEST(RowEncoderTest, TimestampsAndTimes) {
  OneValue ts(Col("v", oid::kTimestamp));
  ASSERT_EQ(ts.Encode("2024-02-29 23:59:59.000001").outcome, EncodeResult::Outcome::kEncoded);
  EXPECT_EQ(Str(*ts.Row()), "2024-02-29 23:59:59.000001");
  ASSERT_EQ(ts.Encode("0005-01-01 00:00:00").outcome, EncodeResult::Outcome::kEncoded);
  EXPECT_EQ(Str(*ts.Row()), "0005-01-01 00:00:00");
  ASSERT_EQ(ts.Encode("infinity").outcome, EncodeResult::Outcome::kEncoded);
  EXPECT_EQ(Str(*ts.Row()), "9999-12-31 23:59:59.999999");
  EXPECT_EQ(ts.Encode("0100-01-01 00:00:00 BC").outcome, EncodeResult::Outcome::kRejected);

  OneValue tz(Col("v", oid::kTimestamptz));
  ASSERT_EQ(tz.Encode("1970-01-01 05:30:00.25+05:30").outcome, EncodeResult::Outcome::kEncoded);
  EXPECT_EQ(I64(*tz.Row()), 250000);
  ASSERT_EQ(tz.Encode("2024-01-31 12:00:00+00").outcome, EncodeResult::Outcome::kEncoded);
  EXPECT_EQ(I64(*tz.Row()), 1706702400LL * 1000000);
  ASSERT_EQ(tz.Encode("-infinity").outcome, EncodeResult::Outcome::kEncoded);
  EXPECT_EQ(I64(*tz.Row()), -62135596800000000LL);
  // 9999-12-31 23:00 at -02: 10000-01-01 01:00 UTC, outside BigQuery's range.
  EXPECT_EQ(tz.Encode("9999-12-31 23:00:00-02").outcome, EncodeResult::Outcome::kRejected);
  // 0001-01-01 00:30+01 is 0000-12-31 23:30 UTC (1 BC): outside.
  EXPECT_EQ(tz.Encode("0001-01-01 00:30:00+01").outcome, EncodeResult::Outcome::kRejected);

  OneValue t(Col("v", oid::kTime));
  ASSERT_EQ(t.Encode("07:08:09.5").outcome, EncodeResult::Outcome::kEncoded);
  EXPECT_EQ(Str(*t.Row()), "07:08:09.500000");
  EXPECT_EQ(t.Encode("24:00:00").outcome, EncodeResult::Outcome::kRejected);
  EncodePolicies clamp;
  clamp.out_of_range = ValuePolicy::kClamp;
  OneValue tc(Col("v", oid::kTime), clamp);
  ASSERT_EQ(tc.Encode("24:00:00").outcome, EncodeResult::Outcome::kEncoded);
  EXPECT_EQ(Str(*tc.Row()), "23:59:59.999999");

  OneValue tt(Col("v", oid::kTimetz));
  ASSERT_EQ(tt.Encode("07:08:09+02").outcome, EncodeResult::Outcome::kEncoded);
  EXPECT_EQ(Str(*tt.Row()), "07:08:09+02");
}

TEST(RowEncoderTest, Intervals) {
  OneValue i(Col("v", oid::kInterval));
  ASSERT_EQ(i.Encode("1 year 2 mons -3 days +04:05:06.5").outcome, EncodeResult::Outcome::kEncoded);
  EXPECT_EQ(Str(*i.Row()), "1-2 -3 4:5:6.500000");
  ASSERT_EQ(i.Encode("-1 years -2 mons -00:00:01").outcome, EncodeResult::Outcome::kEncoded);
  EXPECT_EQ(Str(*i.Row()), "-1-2 0 -0:0:1");
  ASSERT_EQ(i.Encode("00:00:00").outcome, EncodeResult::Outcome::kEncoded);
  EXPECT_EQ(Str(*i.Row()), "0-0 0 0:0:0");
  EXPECT_EQ(i.Encode("10001 years").outcome, EncodeResult::Outcome::kRejected);
  EXPECT_EQ(i.Encode("3660001 days").outcome, EncodeResult::Outcome::kRejected);
}

TEST(RowEncoderTest, RepeatedArrays) {
  OneValue ints(Col("v", 1016));  // int8[]
  ASSERT_EQ(ints.Encode("{1,-2,3000000000}").outcome, EncodeResult::Outcome::kEncoded);
  auto row = ints.Row();
  const auto* f = Field(*row, "v");
  ASSERT_EQ(row->GetReflection()->FieldSize(*row, f), 3);
  EXPECT_EQ(row->GetReflection()->GetRepeatedInt64(*row, f, 1), -2);
  EXPECT_EQ(row->GetReflection()->GetRepeatedInt64(*row, f, 2), 3000000000LL);

  OneValue texts(Col("v", 1009));
  ASSERT_EQ(texts.Encode(R"({"a,b",NULL2,"NULL"})").outcome, EncodeResult::Outcome::kEncoded);
  row = texts.Row();
  f = Field(*row, "v");
  ASSERT_EQ(row->GetReflection()->FieldSize(*row, f), 3);
  EXPECT_EQ(row->GetReflection()->GetRepeatedString(*row, f, 0), "a,b");
  EXPECT_EQ(row->GetReflection()->GetRepeatedString(*row, f, 2), "NULL");

  OneValue dates(Col("v", 1182));
  ASSERT_EQ(dates.Encode("{1970-01-02,1969-12-31}").outcome, EncodeResult::Outcome::kEncoded);
  row = dates.Row();
  EXPECT_EQ(row->GetReflection()->GetRepeatedInt32(*row, Field(*row, "v"), 1), -1);

  auto r = ints.Encode("{1,NULL}");
  EXPECT_EQ(r.outcome, EncodeResult::Outcome::kRejected);
  EXPECT_NE(r.reason.find("NULL elements"), std::string::npos);
  r = ints.Encode("{{1,2},{3,4}}");
  EXPECT_EQ(r.outcome, EncodeResult::Outcome::kRejected);
  EXPECT_NE(r.reason.find("multi-dimensional"), std::string::npos);

  row.reset();
  EncodePolicies p;
  p.array_null_element = ValuePolicy::kNull;
  OneValue lenient(Col("v", 1016), p);
  r = lenient.Encode("{1,NULL}");
  ASSERT_EQ(r.outcome, EncodeResult::Outcome::kEncoded);
  auto lrow = lenient.Row();  // must not outlive `lenient`'s descriptor pool
  EXPECT_EQ(lrow->GetReflection()->FieldSize(*lrow, Field(*lrow, "v")), 0);
  EXPECT_TRUE(r.issues.at(0).lossy);
}

TEST(RowEncoderTest, ArraysAsJson) {
  DescriptorOptions o;
  o.mapping.arrays = MappingOptions::Arrays::kJson;
  OneValue ints(Col("v", 1007), {}, o);
  ASSERT_EQ(ints.Encode("{{1,NULL},{3,4}}").outcome, EncodeResult::Outcome::kEncoded);
  EXPECT_EQ(Str(*ints.Row()), "[[1,null],[3,4]]");
  OneValue texts(Col("v", 1009), {}, o);
  ASSERT_EQ(texts.Encode(R"({"a\"b",NULL,c})").outcome, EncodeResult::Outcome::kEncoded);
  EXPECT_EQ(Str(*texts.Row()), R"(["a\"b",null,"c"])");
  OneValue nums(Col("v", 1231), {}, o);
  ASSERT_EQ(nums.Encode("{1.10,NaN}").outcome, EncodeResult::Outcome::kEncoded);
  EXPECT_EQ(Str(*nums.Row()), R"(["1.10","NaN"])");
  ASSERT_EQ(ints.Encode("{}").outcome, EncodeResult::Outcome::kEncoded);
  EXPECT_EQ(Str(*ints.Row()), "[]");
}

// --- change rules --------------------------------------------------------------------------

class ChangeRules : public ::testing::Test {
 protected:
  void Build(bool changelog = false, bool keyless = false) {
    SourceRelation r;
    r.oid = 5;
    r.schema = "public";
    r.name = "docs";
    r.columns = {Col("id", oid::kInt4, -1, !keyless), Col("title", oid::kText),
                 Col("body", oid::kText)};
    DescriptorOptions o;
    o.changelog_for_keyed_tables = changelog;
    descriptor_ = *BuildTableDescriptor(r, o, 1);
    encoder_ = std::make_unique<RowEncoder>(descriptor_, EncodePolicies{});
    parser_ = std::make_unique<testing::RowParser>(*descriptor_);
  }
  SourceChange Change(ChangeKind kind, std::span<const SourceValue> nv,
                      std::span<const SourceValue> ov = {}, bool full = false) {
    SourceChange c;
    c.kind = kind;
    c.commit_lsn = 0xABC;
    c.ordinal = 4;
    c.commit_time_us = 1700000000000000;
    c.new_values = nv;
    c.old_values = ov;
    c.old_is_full_row = full;
    return c;
  }
  std::shared_ptr<const TableDescriptor> descriptor_;
  std::unique_ptr<RowEncoder> encoder_;
  std::unique_ptr<testing::RowParser> parser_;
  EncodedBatch batch_;
};

TEST_F(ChangeRules, DeleteSendsOnlyTheKey) {
  Build();
  std::vector<SourceValue> old = {SourceValue::Text("1"), SourceValue::Null(), SourceValue::Null()};
  auto r = encoder_->Encode(Change(ChangeKind::kDelete, {}, old), &batch_);
  ASSERT_EQ(r.outcome, EncodeResult::Outcome::kEncoded) << r.reason;
  auto row = parser_->Parse(batch_.RowMessage(0));
  EXPECT_EQ(Str(*row, "_CHANGE_TYPE"), "DELETE");
  EXPECT_EQ(I64(*row, "id"), 1);
  EXPECT_FALSE(Has(*row, "title"));
  // Without the old key there is nothing to delete by.
  r = encoder_->Encode(Change(ChangeKind::kDelete, {}, {}), &batch_);
  EXPECT_EQ(r.outcome, EncodeResult::Outcome::kRejected);
}

TEST_F(ChangeRules, KeyChangeIsDeleteThenUpsert) {
  Build();
  std::vector<SourceValue> nv = {SourceValue::Text("2"), SourceValue::Text("t"),
                                 SourceValue::Text("b")};
  std::vector<SourceValue> ok = {SourceValue::Text("1"), SourceValue::Null(), SourceValue::Null()};
  auto r = encoder_->Encode(Change(ChangeKind::kUpdate, nv, ok), &batch_);
  ASSERT_EQ(r.outcome, EncodeResult::Outcome::kEncoded) << r.reason;
  ASSERT_EQ(batch_.rows.size(), 2u);
  auto del = parser_->Parse(batch_.RowMessage(0));
  auto up = parser_->Parse(batch_.RowMessage(1));
  EXPECT_EQ(Str(*del, "_CHANGE_TYPE"), "DELETE");
  EXPECT_EQ(I64(*del, "id"), 1);
  EXPECT_EQ(Str(*up, "_CHANGE_TYPE"), "UPSERT");
  EXPECT_EQ(I64(*up, "id"), 2);
  EXPECT_EQ(Str(*up, "body"), "b");
  // Same key in a full old row: only the UPSERT.
  batch_.Clear();
  std::vector<SourceValue> full = {SourceValue::Text("2"), SourceValue::Text("old"),
                                   SourceValue::Text("b")};
  r = encoder_->Encode(Change(ChangeKind::kUpdate, nv, full, true), &batch_);
  ASSERT_EQ(r.outcome, EncodeResult::Outcome::kEncoded);
  EXPECT_EQ(batch_.rows.size(), 1u);
}

TEST_F(ChangeRules, UnchangedToastFromFullOldRow) {
  Build();
  std::vector<SourceValue> nv = {SourceValue::Text("1"), SourceValue::Text("new"),
                                 SourceValue::Unchanged()};
  std::vector<SourceValue> full = {SourceValue::Text("1"), SourceValue::Text("old"),
                                   SourceValue::Text("big body")};
  auto r = encoder_->Encode(Change(ChangeKind::kUpdate, nv, full, true), &batch_);
  ASSERT_EQ(r.outcome, EncodeResult::Outcome::kEncoded) << r.reason;
  auto row = parser_->Parse(batch_.RowMessage(0));
  EXPECT_EQ(Str(*row, "title"), "new");
  EXPECT_EQ(Str(*row, "body"), "big body");
}

TEST_F(ChangeRules, UnchangedToastWithoutOldRowAsksForCurrentValues) {
  Build();
  std::vector<SourceValue> nv = {SourceValue::Text("1"), SourceValue::Text("new"),
                                 SourceValue::Unchanged()};
  auto r = encoder_->Encode(Change(ChangeKind::kUpdate, nv), &batch_);
  EXPECT_EQ(r.outcome, EncodeResult::Outcome::kNeedsCurrentValues);
  EXPECT_EQ(r.unresolved_columns, std::vector<std::size_t>{2});
  EXPECT_TRUE(batch_.rows.empty());
  EXPECT_TRUE(batch_.proto_rows.empty());
  // The caller fills in the value it read by key and encodes again.
  nv[2] = SourceValue::Text("current body");
  r = encoder_->Encode(Change(ChangeKind::kUpdate, nv), &batch_);
  ASSERT_EQ(r.outcome, EncodeResult::Outcome::kEncoded);
  EXPECT_EQ(Str(*parser_->Parse(batch_.RowMessage(0)), "body"), "current body");
}

TEST_F(ChangeRules, ChangeLogRows) {
  Build(/*changelog=*/false, /*keyless=*/true);
  EXPECT_EQ(descriptor_->mode, WriteMode::kChangeLog);
  std::vector<SourceValue> nv = {SourceValue::Text("1"), SourceValue::Text("t"),
                                 SourceValue::Null()};
  ASSERT_EQ(encoder_->Encode(Change(ChangeKind::kInsert, nv), &batch_).outcome,
            EncodeResult::Outcome::kEncoded);
  std::vector<SourceValue> full = {SourceValue::Text("1"), SourceValue::Text("t"),
                                   SourceValue::Null()};
  ASSERT_EQ(encoder_->Encode(Change(ChangeKind::kDelete, {}, full, true), &batch_).outcome,
            EncodeResult::Outcome::kEncoded);
  auto ins = parser_->Parse(batch_.RowMessage(0));
  auto del = parser_->Parse(batch_.RowMessage(1));
  EXPECT_EQ(Str(*ins, "_pg2bq_op"), "INSERT");
  EXPECT_EQ(Str(*ins, "_pg2bq_lsn"), "0000000000000ABC/0000000000000004");
  EXPECT_EQ(I64(*ins, "_pg2bq_commit_time"), 1700000000000000);
  EXPECT_EQ(Str(*del, "_pg2bq_op"), "DELETE");
  EXPECT_EQ(Str(*del, "title"), "t");  // full old row kept in the history
}

TEST_F(ChangeRules, RejectedRowLeavesBatchUntouched) {
  Build();
  std::vector<SourceValue> good = {SourceValue::Text("1"), SourceValue::Text("a"),
                                   SourceValue::Null()};
  ASSERT_EQ(encoder_->Encode(Change(ChangeKind::kInsert, good), &batch_).outcome,
            EncodeResult::Outcome::kEncoded);
  const std::string before = batch_.proto_rows;
  std::vector<SourceValue> null_key = {SourceValue::Null(), SourceValue::Text("a"),
                                       SourceValue::Null()};
  auto r = encoder_->Encode(Change(ChangeKind::kInsert, null_key), &batch_);
  EXPECT_EQ(r.outcome, EncodeResult::Outcome::kRejected);
  EXPECT_NE(r.reason.find("key column \"id\" is NULL"), std::string::npos);
  std::vector<SourceValue> bad_utf8 = {SourceValue::Text("2"), SourceValue::Text("\xff"),
                                       SourceValue::Null()};
  EXPECT_EQ(encoder_->Encode(Change(ChangeKind::kInsert, bad_utf8), &batch_).outcome,
            EncodeResult::Outcome::kRejected);
  EXPECT_EQ(batch_.proto_rows, before);
  EXPECT_EQ(batch_.rows.size(), 1u);
}

TEST(EncodePoliciesTest, ClampOnlyWhereItMeansSomething) {
  EncodePolicies p;
  EXPECT_TRUE(p.Validate().ok());
  p.numeric_special = ValuePolicy::kClamp;
  EXPECT_FALSE(p.Validate().ok());
  EXPECT_EQ(*ParseValuePolicy("null"), ValuePolicy::kNull);
  EXPECT_FALSE(ParseValuePolicy("drop").ok());
}

}  // namespace
}  // namespace pg2bq::sink

namespace pg2bq::sink {
namespace {

// Binary-format values (pgoutput `binary 'true'`) go through the same decoder as text.
TEST(RowEncoderBinaryTest, BinaryValuesEncodeLikeText) {
  SourceRelation r;
  r.oid = 9;
  r.schema = "public";
  r.name = "b";
  SourceColumn id;
  id.name = "id";
  id.type_oid = oid::kInt8;
  id.is_key = true;
  SourceColumn at;
  at.name = "at";
  at.type_oid = oid::kTimestamptz;
  r.columns = {id, at};
  auto d = *BuildTableDescriptor(r, {}, 1);
  RowEncoder enc(d, {});
  // int8 42; timestamptz 2000-01-01 00:00:01 UTC = 1,000,000 µs after PostgreSQL's epoch.
  const std::string id_bytes("\0\0\0\0\0\0\0\x2a", 8);
  const std::string at_bytes("\0\0\0\0\0\x0f\x42\x40", 8);
  std::vector<SourceValue> v = {{ValueState::kBinary, id_bytes}, {ValueState::kBinary, at_bytes}};
  SourceChange c;
  c.new_values = v;
  EncodedBatch b;
  auto res = enc.Encode(c, &b);
  ASSERT_EQ(res.outcome, EncodeResult::Outcome::kEncoded) << res.reason;
  testing::RowParser parser(*d);
  auto row = parser.Parse(b.RowMessage(0));
  EXPECT_EQ(I64(*row, "id"), 42);
  EXPECT_EQ(I64(*row, "at"), 946684801000000LL);
  // Found by the fuzzer: an int64 near the maximum must not overflow the epoch shift.
  const std::string huge("\x7f\xff\xff\xff\xff\xff\xff\xf2", 8);
  v[1] = {ValueState::kBinary, huge};
  res = enc.Encode(c, &b);
  EXPECT_EQ(res.outcome, EncodeResult::Outcome::kRejected);
  EXPECT_NE(res.reason.find("outside BigQuery"), std::string::npos) << res.reason;
  // A binary value of the wrong length is a clear rejection, not a crash.
  const std::string short_bytes("\0\x2a", 2);
  v[1] = {ValueState::kBinary, short_bytes};
  res = enc.Encode(c, &b);
  EXPECT_EQ(res.outcome, EncodeResult::Outcome::kRejected);
  EXPECT_NE(res.reason.find("column \"at\""), std::string::npos) << res.reason;
}

}  // namespace
}  // namespace pg2bq::sink
