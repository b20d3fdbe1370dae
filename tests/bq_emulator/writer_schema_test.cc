#include "tests/bq_emulator/writer_schema.h"

#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/dynamic_message.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "tests/bq_emulator/bq_values.h"
#include "tests/bq_emulator/wire_fields.h"

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
using pg2bq::bqemu::testing::IntField;
using pg2bq::bqemu::testing::StrField;
using pg2bq::bqemu::testing::Varint;

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

// Every column type the emulator supports, in every proto form the tests
// below send; "id" and "s" are the primary key.
constexpr const char* kAllTypes = R"({
  "schema": {"fields": [
    {"name": "id", "type": "INT64"},
    {"name": "s", "type": "STRING"},
    {"name": "b", "type": "BYTES"},
    {"name": "f", "type": "FLOAT64"},
    {"name": "ok", "type": "BOOL", "mode": "REQUIRED"},
    {"name": "n", "type": "NUMERIC"},
    {"name": "bn", "type": "BIGNUMERIC"},
    {"name": "ts", "type": "TIMESTAMP"},
    {"name": "ts_text", "type": "TIMESTAMP"},
    {"name": "d", "type": "DATE"},
    {"name": "d_text", "type": "DATE"},
    {"name": "t", "type": "TIME"},
    {"name": "t_text", "type": "TIME"},
    {"name": "dt", "type": "DATETIME"},
    {"name": "dt_packed", "type": "DATETIME"},
    {"name": "j", "type": "JSON"},
    {"name": "g", "type": "GEOGRAPHY"},
    {"name": "iv", "type": "INTERVAL"},
    {"name": "rec", "type": "RECORD", "fields": [
      {"name": "x", "type": "INT64", "mode": "REQUIRED"},
      {"name": "y", "type": "STRING"}]},
    {"name": "tags", "type": "STRING", "mode": "REPEATED"},
    {"name": "nums", "type": "INT64", "mode": "REPEATED"},
    {"name": "n_bytes", "type": "NUMERIC"},
    {"name": "n_dbl", "type": "NUMERIC"},
    {"name": "n_u64", "type": "BIGNUMERIC"},
    {"name": "color", "type": "STRING"},
    {"name": "flag", "type": "BOOL"},
    {"name": "req", "type": "STRING", "mode": "REQUIRED"}
  ]},
  "tableConstraints": {"primaryKey": {"columns": ["id", "s"]}}
})";

// kAllTypes, without the STRUCT and enum-carried columns when !nested (a
// writer schema the wire fast path takes).
TableSchema AllTypesTable(bool nested) {
  auto resource = nlohmann::json::parse(kAllTypes);
  auto& fields = resource["schema"]["fields"];
  if (!nested) {
    for (size_t i = fields.size(); i-- > 0;) {
      if (fields[i]["name"] == "rec" || fields[i]["name"] == "color") fields.erase(i);
    }
  }
  auto r = TableSchemaFromResource(resource);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : TableSchema{};
}

// Writer schema for kAllTypes; without "rec" and "color" when !nested.
DescriptorProto AllTypesRow(bool nested) {
  using F = FieldDescriptorProto;
  DescriptorProto d;
  d.set_name("Row");
  AddField(&d, "id", 1, F::TYPE_INT64);
  AddField(&d, "s", 2, F::TYPE_STRING);
  AddField(&d, "b", 3, F::TYPE_BYTES);
  AddField(&d, "f", 4, F::TYPE_DOUBLE);
  AddField(&d, "ok", 5, F::TYPE_BOOL, F::LABEL_REQUIRED);  // proto2 required
  AddField(&d, "n", 6, F::TYPE_STRING);
  AddField(&d, "bn", 7, F::TYPE_STRING);
  AddField(&d, "ts", 8, F::TYPE_INT64);
  AddField(&d, "ts_text", 9, F::TYPE_STRING);
  AddField(&d, "d", 10, F::TYPE_INT32);
  AddField(&d, "d_text", 11, F::TYPE_STRING);
  AddField(&d, "t", 12, F::TYPE_INT64);
  AddField(&d, "t_text", 13, F::TYPE_STRING);
  AddField(&d, "dt", 14, F::TYPE_STRING);
  AddField(&d, "dt_packed", 15, F::TYPE_INT64);
  AddField(&d, "j", 16, F::TYPE_STRING);
  AddField(&d, "g", 17, F::TYPE_STRING);
  AddField(&d, "iv", 18, F::TYPE_STRING);
  if (nested) {
    AddField(&d, "rec", 19, F::TYPE_MESSAGE);
    d.mutable_field(d.field_size() - 1)->set_type_name("Rec");
  }
  AddField(&d, "tags", 20, F::TYPE_STRING, F::LABEL_REPEATED);
  AddField(&d, "nums", 21, F::TYPE_INT64, F::LABEL_REPEATED);
  AddField(&d, "n_bytes", 22, F::TYPE_BYTES);
  AddField(&d, "n_dbl", 23, F::TYPE_DOUBLE);
  AddField(&d, "n_u64", 24, F::TYPE_UINT64);
  if (nested) {
    AddField(&d, "color", 25, F::TYPE_ENUM);
    d.mutable_field(d.field_size() - 1)->set_type_name("Color");
  }
  AddField(&d, "flag", 26, F::TYPE_INT32);
  AddField(&d, "req", 27, F::TYPE_STRING);
  AddField(&d, "_CHANGE_TYPE", 30, F::TYPE_STRING);
  AddField(&d, "_change_sequence_number", 31, F::TYPE_STRING);
  if (!nested) return d;
  DescriptorProto* rec = d.add_nested_type();
  rec->set_name("Rec");
  AddField(rec, "x", 1, F::TYPE_INT64);
  AddField(rec, "y", 2, F::TYPE_STRING);
  auto* color = d.add_enum_type();
  color->set_name("Color");
  auto* red = color->add_value();
  red->set_name("RED");
  red->set_number(1);
  auto* green = color->add_value();
  green->set_name("GREEN");
  green->set_number(2);
  return d;
}

std::string Fixed64Field(int number, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  std::string out = Varint((static_cast<uint64_t>(number) << 3) | 1);
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>((bits >> (8 * i)) & 0xFF));
  return out;
}
std::string PackedField(int number, const std::vector<int64_t>& values) {
  std::string body;
  for (int64_t v : values)
    body += Varint(static_cast<uint64_t>(v));
  return StrField(number, body);
}
// Packed TIME / DATETIME (CivilTimeEncoder).
int64_t PackedTime(int64_t h, int64_t m, int64_t s, int64_t us) {
  return h << 32 | m << 26 | s << 20 | us;
}
int64_t PackedDatetime(int64_t y, int64_t mo, int64_t d, int64_t h, int64_t mi, int64_t s) {
  return y << 46 | mo << 42 | d << 37 | PackedTime(h, mi, s, 0);
}

// The smallest valid row: key, the proto2-required "ok", the REQUIRED "req".
// Protobuf keeps the last of repeated occurrences of a singular field, so a
// case can override any of these by appending it again.
std::string MinimalRow() {
  return IntField(1, 7) + StrField(2, "key") + IntField(5, 1) + StrField(27, "r");
}

std::string FullRow(bool nested) {
  return MinimalRow() + StrField(3, std::string("\x00\xff", 2)) + Fixed64Field(4, 2.5) +
         StrField(6, "-12.50") + StrField(7, "0." + std::string(37, '0') + "1") +
         IntField(8, 1700000000123456) + StrField(9, "2023-11-14 23:13:20.5+01:00") +
         IntField(10, 19675) + StrField(11, "2023-11-14") +
         IntField(12, PackedTime(23, 59, 58, 7)) + StrField(13, "01:02:03") +
         StrField(14, "2023-11-14T01:02:03.000004") +
         IntField(15, PackedDatetime(2023, 11, 14, 1, 2, 3)) +
         StrField(16, R"({"a": [1, 2.5, "x", null, true], "b": {}})") + StrField(17, "POINT(1 2)") +
         StrField(18, "1-2 3 4:5:6") +
         (nested ? StrField(19, IntField(1, 9) + StrField(2, "inner")) : "") + StrField(20, "x") +
         StrField(20, "y") + IntField(21, 1) + PackedField(21, {2, 3}) +
         StrField(22, std::string("\x00\xca\x9a\x3b", 4)) /* 10^9 * 1 -> 1 */ +
         Fixed64Field(23, 0.125) + IntField(24, -1) /* 2^64-1 as uint64 */ +
         (nested ? IntField(25, 2) : "") + IntField(26, -5);
}

// Runs one row through both paths; they must agree on the verdict and the
// message. Returns the shared verdict.
Status BothPaths(const WriterSchema& ws, const std::string& row) {
  auto decoded = ws.DecodeRow(row);
  Status validated = ws.ValidateRow(row);
  EXPECT_EQ(decoded.ok(), validated.ok())
      << "decode: " << decoded.status().ToString() << " validate: " << validated.ToString();
  EXPECT_EQ(decoded.status().message(), validated.message());
  return validated;
}

// Both schemas: with STRUCT and enum fields (the full walk only) and flat (the
// wire fast path accepts valid rows, the full walk refuses bad ones).
class WriterSchemaBothPaths : public ::testing::TestWithParam<bool> {};

TEST_P(WriterSchemaBothPaths, ValidateAndDecodeAgreeOnValidRows) {
  const bool nested = GetParam();
  SchemaError error;
  auto ws = WriterSchema::Bind(AllTypesRow(nested), AllTypesTable(nested), "p.d.t", &error);
  ASSERT_TRUE(ws) << error.message;
  const std::string cdc = StrField(30, "UPSERT") + StrField(31, "1/A");
  struct Case {
    const char* name;
    std::string row;
    bool uses_nested = false;  // sends "rec" or "color"
    bool fast = true;          // the wire fast path accepts it (flat schema)
  } cases[] = {
      {"minimal", MinimalRow()},
      {"every column", FullRow(nested)},
      {"every column as a change", FullRow(nested) + cdc},
      {"a bad value overwritten by a good one",
       MinimalRow() + StrField(16, "{") + StrField(16, "{}"), false, /*fast=*/false},
      {"a singular field sent twice", MinimalRow() + IntField(8, 1) + IntField(8, 2)},
      {"delete in lower case", MinimalRow() + StrField(30, "delete") + StrField(31, "FF/0/0/1")},
      {"change without a sequence", MinimalRow() + StrField(30, "Upsert")},
      {"NaN and infinities", MinimalRow() + Fixed64Field(4, std::nan(""))},
      {"infinity", MinimalRow() + Fixed64Field(4, -std::numeric_limits<double>::infinity())},
      {"NUMERIC forms", MinimalRow() + StrField(6, "1.5e3") + StrField(7, "-0.000")},
      {"NUMERIC limits", MinimalRow() +
                             StrField(6, std::string(29, '9') + "." + std::string(9, '9')) +
                             StrField(7, std::string(38, '9'))},
      {"NUMERIC from a negative scaled integer", MinimalRow() + StrField(22, "\xff")},
      {"timestamp limits", MinimalRow() + IntField(8, kMinTimestampMicros) +
                               StrField(9, "9999-12-31T23:59:59.999999Z")},
      {"date limits", MinimalRow() + IntField(10, kMinDate) + StrField(11, "9999-12-31")},
      {"JSON scalars", MinimalRow() + StrField(16, "null")},
      {"JSON string", MinimalRow() + StrField(16, R"("\u00e9\n")")},
      {"UTF-8 of every length",
       MinimalRow() + StrField(2, "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80")},
      {"empty STRING", MinimalRow() + StrField(2, "")},
      {"empty repeated and struct", MinimalRow() + StrField(19, IntField(1, 0)), true},
      {"enum", MinimalRow() + IntField(25, 1), true},
      {"unpacked and packed repeated", MinimalRow() + PackedField(21, {}) + IntField(21, -1)},
  };
  for (const auto& c : cases) {
    if (c.uses_nested && !nested) continue;
    SCOPED_TRACE(c.name);
    Status st = BothPaths(*ws, c.row);
    EXPECT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(ws->WireRowIsValid(c.row), !nested && c.fast);
  }
  if (!nested) return;
  // The storing path's values for the full row (what the validating path skips).
  auto full = ws->DecodeRow(FullRow(true) + cdc);
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  const auto& v = full->values;
  EXPECT_EQ(v["b"], "AP8=");
  EXPECT_EQ(v["f"], 2.5);
  EXPECT_EQ(v["ok"], true);
  EXPECT_EQ(v["n"], "-12.5");
  EXPECT_EQ(v["ts_text"], "2023-11-14T22:13:20.500000Z");
  EXPECT_EQ(v["d"], "2023-11-14");
  EXPECT_EQ(v["t"], "23:59:58.000007");
  EXPECT_EQ(v["dt_packed"], "2023-11-14T01:02:03.000000");
  EXPECT_EQ(v["rec"], nlohmann::json::parse(R"({"x":"9","y":"inner"})"));
  EXPECT_EQ(v["nums"], nlohmann::json::parse(R"(["1","2","3"])"));
  EXPECT_EQ(v["n_bytes"], "1");
  EXPECT_EQ(v["n_dbl"], "0.125");
  EXPECT_EQ(v["n_u64"], "18446744073709551615");
  EXPECT_EQ(v["color"], "GREEN");
  EXPECT_EQ(v["flag"], true);
  EXPECT_EQ(*full->change_type, "UPSERT");
  EXPECT_EQ(*full->change_sequence, "1/A");
}

TEST_P(WriterSchemaBothPaths, ValidateAndDecodeRejectTheSameRowsWithTheSameMessage) {
  const bool nested = GetParam();
  SchemaError error;
  auto ws = WriterSchema::Bind(AllTypesRow(nested), AllTypesTable(nested), "p.d.t", &error);
  ASSERT_TRUE(ws) << error.message;
  const std::string row = MinimalRow();
  const std::string upsert = StrField(30, "UPSERT") + StrField(31, "1");
  const std::string ok_req = IntField(5, 1) + StrField(27, "r");
  struct Case {
    const char* name;
    std::string row;
    const char* expect;        // in the message
    bool uses_nested = false;  // sends "rec" or "color"
  } cases[] = {
      {"bad UTF-8", row + StrField(2, "a\xc3\x28"), "Field s: invalid UTF-8"},
      {"truncated UTF-8", row + StrField(2, "\xe2\x82"), "invalid UTF-8"},
      {"bad UTF-8 in a repeated value", row + StrField(20, "ok") + StrField(20, "\xff"),
       "Field tags: invalid UTF-8"},
      {"bad UTF-8 in a struct", row + StrField(19, IntField(1, 1) + StrField(2, "\xc0")),
       "Field rec.y: invalid UTF-8", true},
      {"invalid JSON", row + StrField(16, "{not json"), "Field j: invalid JSON value '{not json'"},
      {"JSON with trailing text", row + StrField(16, "{} x"), "invalid JSON"},
      {"empty JSON", row + StrField(16, ""), "invalid JSON"},
      {"NUMERIC integer digits", row + StrField(6, std::string(30, '1')),
       "digits before the decimal point"},
      {"NUMERIC fraction digits", row + StrField(6, "0.0000000001"),
       "digits after the decimal point"},
      {"NUMERIC syntax", row + StrField(6, "12a"), "Invalid decimal value '12a'"},
      {"NUMERIC empty", row + StrField(6, ""), "invalid NUMERIC value"},
      {"BIGNUMERIC fraction digits", row + StrField(7, "0." + std::string(38, '0') + "1"),
       "invalid BIGNUMERIC value"},
      {"NUMERIC from NaN", row + Fixed64Field(23, std::nan("")), "NaN and infinity"},
      {"NUMERIC from scaled bytes too large", row + StrField(22, std::string(16, '\x7f')),
       "digits before the decimal point"},
      {"timestamp above range", row + IntField(8, kMaxTimestampMicros + 1), "out of range"},
      {"timestamp below range", row + IntField(8, kMinTimestampMicros - 1), "out of range"},
      {"timestamp text", row + StrField(9, "2023-13-01T00:00:00Z"), "Invalid TIMESTAMP value"},
      {"timestamp text out of range by its offset", row + StrField(9, "9999-12-31T23:59:59-01:00"),
       "out of range"},
      {"date out of range", row + IntField(10, kMaxDate + 1), "Date field value is out of range"},
      {"date text", row + StrField(11, "2023-02-29"), "Invalid DATE value"},
      {"packed time", row + IntField(12, PackedTime(24, 0, 0, 0)), "Invalid packed TIME"},
      {"time text", row + StrField(13, "12:00:00.1234567"), "Invalid TIME value"},
      {"datetime text", row + StrField(14, "2023-11-14X01:02:03"), "Invalid DATETIME value"},
      {"packed datetime", row + IntField(15, PackedDatetime(2023, 2, 30, 0, 0, 0)),
       "Invalid packed DATETIME"},
      {"empty GEOGRAPHY", row + StrField(17, ""), "invalid GEOGRAPHY value"},
      {"bad UTF-8 INTERVAL", row + StrField(18, "\xff"), "invalid INTERVAL value"},
      {"bad _CHANGE_TYPE", row + StrField(30, "MERGE"),
       "Invalid _CHANGE_TYPE 'MERGE': must be UPSERT or DELETE"},
      {"empty _CHANGE_TYPE", row + StrField(30, ""), "Invalid _CHANGE_TYPE"},
      {"_CHANGE_SEQUENCE_NUMBER not hex", row + StrField(30, "UPSERT") + StrField(31, "xyz"),
       "not hexadecimal"},
      {"_CHANGE_SEQUENCE_NUMBER sections", row + StrField(30, "UPSERT") + StrField(31, "1/2/3/4/5"),
       "more than 4 sections"},
      {"_CHANGE_SEQUENCE_NUMBER empty section", row + StrField(30, "DELETE") + StrField(31, "1//2"),
       "empty section"},
      {"_CHANGE_SEQUENCE_NUMBER without _CHANGE_TYPE", row + StrField(31, "1"),
       "_CHANGE_SEQUENCE_NUMBER is set but _CHANGE_TYPE is not"},
      {"NULL first key column", StrField(2, "key") + ok_req + upsert,
       "Primary key column id is NULL in a UPSERT row"},
      {"NULL second key column", IntField(1, 1) + ok_req + StrField(30, "delete"),
       "Primary key column s is NULL in a DELETE row"},
      {"both key columns NULL: the last is named", ok_req + upsert, "Primary key column s is NULL"},
      {"unknown field number", row + IntField(28, 3), "not in the writer schema"},
      {"known number, wrong wire type", row + IntField(2, 3), "not in the writer schema"},
      {"unknown enum number", row + IntField(25, 9), "not in the writer schema", true},
      {"a singular field packed", row + StrField(8, Varint(5)), "not in the writer schema"},
      {"a packed repeated field cut in a varint", row + StrField(21, "\x80"), "Could not parse"},
      {"a double cut short", row + std::string("\x21\x00\x00", 3), "Could not parse"},
      {"a varint running past the end", row + std::string("\x40\xff", 2), "Could not parse"},
      {"end of a group that never started", row + std::string("\x0c", 1), "Could not parse"},
      {"malformed bytes", std::string("\xff\xff\xff", 3), "Could not parse"},
      {"truncated length",
       row + std::string("\x12\x05"
                         "ab",
                         4),
       "Could not parse"},
      {"field number zero", std::string("\x00\x01", 2) + row, "Could not parse"},
      {"proto2 required field missing", IntField(1, 1) + StrField(2, "k") + StrField(27, "r"),
       "Could not parse"},
      {"REQUIRED column missing", IntField(1, 1) + StrField(2, "k") + IntField(5, 0),
       "Field req is REQUIRED but has no value"},
      {"REQUIRED struct field missing", row + StrField(19, StrField(2, "y")),
       "Field rec.x is REQUIRED but has no value", true},
      {"the first bad value is named", row + StrField(2, "\xff") + StrField(16, "{"),
       "Field s: invalid UTF-8"},
      {"a bad value before a NULL key", StrField(16, "[") + ok_req + upsert,
       "Field j: invalid JSON"},
  };
  for (const auto& c : cases) {
    if (c.uses_nested && !nested) continue;
    SCOPED_TRACE(c.name);
    Status st = BothPaths(*ws, c.row);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.message().find(c.expect), std::string::npos) << st.message();
    EXPECT_FALSE(ws->WireRowIsValid(c.row));  // never "certainly valid"
  }
}

// Random damage to valid rows (flipped, cut, inserted, duplicated bytes): the
// wire fast path may only accept what the full walk accepts, and ValidateRow
// must give DecodeRow's verdict and message.
TEST_P(WriterSchemaBothPaths, DamagedRowsGetTheSameVerdictOnBothPaths) {
  const bool nested = GetParam();
  SchemaError error;
  auto ws = WriterSchema::Bind(AllTypesRow(nested), AllTypesTable(nested), "p.d.t", &error);
  ASSERT_TRUE(ws) << error.message;
  const std::string seeds[] = {
      FullRow(nested) + StrField(30, "UPSERT") + StrField(31, "1/A"),
      MinimalRow() + StrField(30, "DELETE") + StrField(31, "FF"),
      MinimalRow() + PackedField(21, {1, 300, -1}) + StrField(6, "123.456"),
  };
  std::mt19937 rng(20261122);
  int accepted = 0, fast = 0;
  for (int i = 0; i < 30000; ++i) {
    std::string row = seeds[rng() % 3];
    for (int edits = 1 + static_cast<int>(rng() % 3); edits > 0; --edits) {
      size_t at = rng() % row.size();
      switch (rng() % 5) {
        case 0:
          row[at] = static_cast<char>(row[at] ^ (1 << (rng() % 8)));
          break;
        case 1:
          row[at] = static_cast<char>(rng());
          break;
        case 2:
          row.resize(at);
          break;
        case 3:
          row.insert(at, 1, static_cast<char>(rng()));
          break;
        default:
          row += row.substr(at, rng() % 8);
      }
      if (row.empty()) row = seeds[0];
    }
    bool wire = ws->WireRowIsValid(row);
    auto decoded = ws->DecodeRow(row);
    Status validated = ws->ValidateRow(row);
    if (wire) ++fast;
    if (decoded.ok()) ++accepted;
    ASSERT_TRUE(!wire || decoded.ok())
        << "fast path accepted a row the walk refuses: " << decoded.status().ToString();
    ASSERT_EQ(decoded.ok(), validated.ok()) << validated.ToString();
    ASSERT_EQ(decoded.status().message(), validated.message());
  }
  // The damage leaves some rows valid, and the flat schema takes those fast.
  EXPECT_GT(accepted, 1000);
  if (!nested) {
    EXPECT_GT(fast, accepted / 2);
  }
}

INSTANTIATE_TEST_SUITE_P(NestedAndFlat, WriterSchemaBothPaths, ::testing::Bool(),
                         [](const auto& p) { return p.param ? "Nested" : "Flat"; });

TEST(WriterSchema, ChangeRowRulesNeedAChangeTypeColumn) {
  // A writer schema with only _CHANGE_SEQUENCE_NUMBER: the sequence is
  // checked, but neither a NULL key nor a missing _CHANGE_TYPE is refused.
  DescriptorProto d;
  d.set_name("Row");
  AddField(&d, "id", 1, FieldDescriptorProto::TYPE_INT64);
  AddField(&d, "_CHANGE_SEQUENCE_NUMBER", 7, FieldDescriptorProto::TYPE_STRING);
  SchemaError error;
  auto ws = WriterSchema::Bind(d, Schema(R"({
    "schema": {"fields": [{"name": "id", "type": "INT64"}]},
    "tableConstraints": {"primaryKey": {"columns": ["id"]}}})"),
                               "p.d.t", &error);
  ASSERT_TRUE(ws) << error.message;
  EXPECT_TRUE(BothPaths(*ws, StrField(7, "1")).ok());
  EXPECT_TRUE(ws->WireRowIsValid(StrField(7, "1")));
  EXPECT_FALSE(ws->WireRowIsValid(StrField(7, "g")));
  Status bad = BothPaths(*ws, StrField(7, "g"));
  EXPECT_NE(bad.message().find("_CHANGE_SEQUENCE_NUMBER"), std::string::npos) << bad.message();
}

}  // namespace
}  // namespace pg2bq::bqemu
