#include "sink/table_descriptor.h"

#include <gtest/gtest.h>

#include "row_test_util.h"
#include "source_columns.h"

namespace pg2bq::sink {
namespace {

using google::protobuf::FieldDescriptor;

using testing::Col;
using testing::NumericTypmod;

SourceRelation Orders() {
  SourceRelation r;
  r.oid = 16384;
  r.schema = "public";
  r.name = "orders";
  r.columns = {Col("id", oid::kInt8, -1, true),
               Col("amount", oid::kNumeric, NumericTypmod(12, 2)),
               Col("big", oid::kNumeric, NumericTypmod(40, 20)),
               Col("huge", oid::kNumeric, NumericTypmod(60, 0)),
               Col("free", oid::kNumeric),
               Col("tags", 1009),
               Col("at", oid::kTimestamptz),
               Col("doc", oid::kJsonb),
               Col("first name", oid::kText)};
  return r;
}

TEST(TableDescriptorTest, CdcSchemaAndProto) {
  auto d = BuildTableDescriptor(Orders(), {}, 1);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  const TableDescriptor& t = **d;
  EXPECT_EQ(t.mode, WriteMode::kCdc);
  EXPECT_EQ(t.key_columns, std::vector<std::string>{"id"});
  const auto& f = t.schema["fields"];
  ASSERT_EQ(f.size(), 9u);  // pseudo-columns are not table columns
  EXPECT_EQ(f[0]["type"], "INT64");
  EXPECT_EQ(f[0]["mode"], "REQUIRED");
  EXPECT_EQ(f[1]["type"], "NUMERIC");
  EXPECT_EQ(f[2]["type"], "BIGNUMERIC");
  EXPECT_EQ(f[3]["type"], "STRING");  // numeric(60,0) is wider than BIGNUMERIC
  EXPECT_EQ(f[4]["type"], "BIGNUMERIC");
  EXPECT_EQ(f[5]["type"], "STRING");
  EXPECT_EQ(f[5]["mode"], "REPEATED");
  EXPECT_EQ(f[6]["type"], "TIMESTAMP");
  EXPECT_EQ(f[7]["type"], "JSON");
  EXPECT_EQ(f[8]["name"], "first_name");
  EXPECT_EQ(f[8]["description"], "PostgreSQL column first name");

  testing::RowParser parser(t);
  const auto* desc = parser.descriptor();
  ASSERT_NE(desc, nullptr);
  EXPECT_EQ(desc->FindFieldByName("id")->type(), FieldDescriptor::TYPE_INT64);
  EXPECT_TRUE(desc->FindFieldByName("amount")->has_presence());  // proto2 optional
  EXPECT_EQ(desc->FindFieldByName("at")->type(), FieldDescriptor::TYPE_INT64);
  EXPECT_TRUE(desc->FindFieldByName("tags")->is_repeated());
  ASSERT_NE(desc->FindFieldByName("_CHANGE_TYPE"), nullptr);
  ASSERT_NE(desc->FindFieldByName("_CHANGE_SEQUENCE_NUMBER"), nullptr);
}

TEST(TableDescriptorTest, ChangeLogForKeylessTablesAndOnRequest) {
  SourceRelation r = Orders();
  for (auto& c : r.columns)
    c.is_key = false;
  auto d = BuildTableDescriptor(r, {}, 1);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ((*d)->mode, WriteMode::kChangeLog);
  const auto& f = (*d)->schema["fields"];
  ASSERT_EQ(f.size(), 12u);
  EXPECT_EQ(f[9]["name"], "_pg2bq_op");
  EXPECT_EQ(f[11]["type"], "TIMESTAMP");
  // One row per change, keyed by its WAL position and written as an UPSERT: replays
  // overwrite themselves.
  EXPECT_EQ((*d)->key_columns, std::vector<std::string>{"_pg2bq_lsn"});
  testing::RowParser parser(**d);
  EXPECT_NE(parser.descriptor()->FindFieldByName("_CHANGE_TYPE"), nullptr);
  EXPECT_NE(parser.descriptor()->FindFieldByName("_CHANGE_SEQUENCE_NUMBER"), nullptr);
  for (std::size_t i = 0; i < 9; ++i)
    EXPECT_FALSE((*d)->columns[i].is_key) << i;

  DescriptorOptions history;
  history.changelog_for_keyed_tables = true;
  d = BuildTableDescriptor(Orders(), history, 1);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ((*d)->mode, WriteMode::kChangeLog);
  EXPECT_EQ((*d)->key_columns, std::vector<std::string>{"_pg2bq_lsn"});
}

TEST(TableDescriptorTest, OptionsChangeUnconstrainedNumericAndArrays) {
  DescriptorOptions o;
  o.mapping.numeric_unconstrained = MappingOptions::UnconstrainedNumeric::kString;
  o.mapping.arrays = MappingOptions::Arrays::kJson;
  auto d = BuildTableDescriptor(Orders(), o, 1);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ((*d)->schema["fields"][4]["type"], "STRING");
  EXPECT_EQ((*d)->schema["fields"][5]["type"], "JSON");
  EXPECT_EQ((*d)->schema["fields"][5]["mode"], "NULLABLE");
}

TEST(TableDescriptorTest, RefusesWhatCdcCannotDo) {
  SourceRelation r = Orders();
  r.columns[5].is_key = true;  // array key
  auto d = BuildTableDescriptor(r, {}, 1);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("tags"), std::string::npos);
  SourceRelation wide;
  wide.schema = "public";
  wide.name = "wide";
  for (int i = 0; i < 17; ++i)
    wide.columns.push_back(Col("k" + std::to_string(i), oid::kInt4, -1, true));
  d = BuildTableDescriptor(wide, {}, 1);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("at most 16"), std::string::npos);
}

TEST(TableDescriptorTest, UnknownTypesFallBackToStringAndAreListed) {
  SourceRelation r = Orders();
  SourceColumn geo = Col("shape", 600123);
  geo.type_name = "geometry";
  r.columns.push_back(geo);
  SourceColumn ci = Col("email", 600124);
  ci.type_name = "citext";
  r.columns.push_back(ci);
  SourceColumn dom = Col("qty", 600125);
  dom.type_name = "positive_int";
  dom.base_type_oid = oid::kInt4;
  r.columns.push_back(dom);
  auto d = BuildTableDescriptor(r, {}, 1);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ((*d)->fallback_columns, std::vector<std::string>{"shape"});
  EXPECT_EQ((*d)->schema["fields"][10]["type"], "STRING");
  EXPECT_EQ((*d)->schema["fields"][11]["type"], "INT64");
}

TEST(DescriptorRegistryTest, NewVersionOnlyWhenShapeChanges) {
  DescriptorRegistry reg({});
  auto v1 = reg.Update(Orders());
  ASSERT_TRUE(v1.ok());
  EXPECT_EQ((*v1)->version, 1u);
  auto same = reg.Update(Orders());
  EXPECT_EQ(same->get(), v1->get());
  SourceRelation added = Orders();
  added.columns.push_back(Col("note", oid::kText));
  auto v2 = reg.Update(added);
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ((*v2)->version, 2u);
  SourceRelation retyped = added;
  retyped.columns[1].typmod = NumericTypmod(14, 2);
  EXPECT_EQ((*reg.Update(retyped))->version, 3u);
  EXPECT_EQ(reg.Find(16384)->version, 3u);
  EXPECT_EQ(reg.Find(1), nullptr);
}

}  // namespace
}  // namespace pg2bq::sink
