#include "tests/bq_emulator/writer_schema.h"

#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/dynamic_message.h>
#include <gtest/gtest.h>

namespace pg2bq::bqemu {
namespace {

using google::protobuf::DescriptorProto;
using google::protobuf::FieldDescriptorProto;

TableSchema Schema(const char* json_text) {
  auto r = TableSchemaFromResource(nlohmann::json::parse(json_text));
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : TableSchema{};
}

void AddField(DescriptorProto* d, const std::string& name, int number,
              FieldDescriptorProto::Type type,
              FieldDescriptorProto::Label label = FieldDescriptorProto::LABEL_OPTIONAL) {
  auto* f = d->add_field();
  f->set_name(name);
  f->set_number(number);
  f->set_type(type);
  f->set_label(label);
}

// Encodes fields by hand: (number, wire bytes) pairs in protobuf wire format.
std::string Varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
  return out;
}
std::string IntField(int number, int64_t v) {
  return Varint(static_cast<uint64_t>(number) << 3) + Varint(static_cast<uint64_t>(v));
}
std::string StrField(int number, const std::string& s) {
  return Varint((static_cast<uint64_t>(number) << 3) | 2) + Varint(s.size()) + s;
}

constexpr const char* kTable = R"({
  "schema": {"fields": [
    {"name": "id", "type": "INTEGER", "mode": "REQUIRED"},
    {"name": "ts", "type": "TIMESTAMP"},
    {"name": "amount", "type": "NUMERIC"},
    {"name": "doc", "type": "JSON"},
    {"name": "tags", "type": "STRING", "mode": "REPEATED"}
  ]},
  "tableConstraints": {"primaryKey": {"columns": ["id"]}}
})";

DescriptorProto RowType(bool cdc) {
  DescriptorProto d;
  d.set_name("Row");
  AddField(&d, "id", 1, FieldDescriptorProto::TYPE_INT64);
  AddField(&d, "ts", 2, FieldDescriptorProto::TYPE_INT64);
  AddField(&d, "amount", 3, FieldDescriptorProto::TYPE_STRING);
  AddField(&d, "doc", 4, FieldDescriptorProto::TYPE_STRING);
  AddField(&d, "tags", 5, FieldDescriptorProto::TYPE_STRING, FieldDescriptorProto::LABEL_REPEATED);
  if (cdc) {
    AddField(&d, "_CHANGE_TYPE", 6, FieldDescriptorProto::TYPE_STRING);
    AddField(&d, "_CHANGE_SEQUENCE_NUMBER", 7, FieldDescriptorProto::TYPE_STRING);
  }
  return d;
}

TEST(WriterSchema, DecodesAValidRow) {
  TableSchema table = Schema(kTable);
  SchemaError error;
  auto ws = WriterSchema::Bind(RowType(true), table, "p.d.t", &error);
  ASSERT_TRUE(ws) << error.message;
  EXPECT_TRUE(ws->has_change_type());
  std::string row = IntField(1, 42) + IntField(2, 1700000000123456) + StrField(3, "12.50") +
                    StrField(4, R"({"a": [1, 2]})") + StrField(5, "x") + StrField(5, "y") +
                    StrField(6, "upsert") + StrField(7, "1/A");
  auto decoded = ws->DecodeRow(row);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->values["id"], "42");
  EXPECT_EQ(decoded->values["ts"], "2023-11-14T22:13:20.123456Z");
  EXPECT_EQ(decoded->values["amount"], "12.5");
  EXPECT_EQ(decoded->values["doc"], nlohmann::json::parse(R"({"a":[1,2]})"));
  EXPECT_EQ(decoded->values["tags"], nlohmann::json::array({"x", "y"}));
  EXPECT_EQ(*decoded->change_type, "UPSERT");
  EXPECT_EQ(*decoded->change_sequence, "1/A");
}

TEST(WriterSchema, ExtraFieldIsSchemaMismatch) {
  DescriptorProto d = RowType(false);
  AddField(&d, "surprise", 9, FieldDescriptorProto::TYPE_STRING);
  SchemaError error;
  EXPECT_FALSE(WriterSchema::Bind(d, Schema(kTable), "p.d.t", &error));
  EXPECT_TRUE(error.extra_fields);
  EXPECT_NE(error.message.find("extra fields: 'surprise'"), std::string::npos) << error.message;
}

TEST(WriterSchema, TypeMismatchIsRefused) {
  DescriptorProto d = RowType(false);
  d.mutable_field(1)->set_type(FieldDescriptorProto::TYPE_DOUBLE);  // ts as double
  SchemaError error;
  EXPECT_FALSE(WriterSchema::Bind(d, Schema(kTable), "p.d.t", &error));
  EXPECT_FALSE(error.extra_fields);
  EXPECT_NE(error.message.find("p.d.t.ts"), std::string::npos) << error.message;
}

TEST(WriterSchema, RepeatedMismatchAndMissingRequiredAreRefused) {
  DescriptorProto d = RowType(false);
  d.mutable_field(4)->set_label(FieldDescriptorProto::LABEL_OPTIONAL);
  SchemaError error;
  EXPECT_FALSE(WriterSchema::Bind(d, Schema(kTable), "p.d.t", &error));
  DescriptorProto no_id;
  no_id.set_name("Row");
  AddField(&no_id, "ts", 2, FieldDescriptorProto::TYPE_INT64);
  EXPECT_FALSE(WriterSchema::Bind(no_id, Schema(kTable), "p.d.t", &error));
  EXPECT_NE(error.message.find("REQUIRED"), std::string::npos) << error.message;
}

TEST(WriterSchema, BadValuesAreRowErrors) {
  SchemaError error;
  auto ws = WriterSchema::Bind(RowType(true), Schema(kTable), "p.d.t", &error);
  ASSERT_TRUE(ws) << error.message;
  struct Case {
    std::string row;
    const char* expect;
  } cases[] = {
      {IntField(1, 1) + IntField(2, 253402300800000000), "out of range"},
      {IntField(1, 1) + StrField(3, "123456789012345678901234567890"), "NUMERIC"},
      {IntField(1, 1) + StrField(3, "0.0000000001"), "NUMERIC"},
      {IntField(1, 1) + StrField(4, "{not json"), "JSON"},
      {IntField(2, 5), "REQUIRED"},
      {IntField(1, 1) + StrField(6, "MERGE"), "_CHANGE_TYPE"},
      {IntField(1, 1) + StrField(6, "UPSERT") + StrField(7, "xyz"), "_CHANGE_SEQUENCE_NUMBER"},
      {IntField(1, 1) + IntField(15, 3), "not in the writer schema"},
      {std::string("\xff\xff\xff", 3), "parse"},
  };
  for (const auto& c : cases) {
    auto r = ws->DecodeRow(c.row);
    ASSERT_FALSE(r.ok()) << c.expect;
    EXPECT_NE(r.status().message().find(c.expect), std::string::npos) << r.status().message();
  }
}

TEST(TableSchema, PrimaryKeyRules) {
  EXPECT_FALSE(TableSchemaFromResource(nlohmann::json::parse(
                                           R"({"schema":{"fields":[{"name":"a","type":"STRING"}]},
                      "tableConstraints":{"primaryKey":{"columns":["b"]}}})"))
                   .ok());
  EXPECT_FALSE(TableSchemaFromResource(
                   nlohmann::json::parse(
                       R"({"schema":{"fields":[{"name":"a","type":"STRING","mode":"REPEATED"}]},
                      "tableConstraints":{"primaryKey":{"columns":["a"]}}})"))
                   .ok());
  EXPECT_FALSE(
      TableSchemaFromResource(
          nlohmann::json::parse(
              R"({"schema":{"fields":[{"name":"a","type":"STRING"},{"name":"A","type":"INT64"}]}})"))
          .ok());
}

}  // namespace
}  // namespace pg2bq::bqemu
