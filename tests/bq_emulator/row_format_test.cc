#include "tests/bq_emulator/row_format.h"

#include <gtest/gtest.h>

namespace pg2bq::bqemu {
namespace {

using nlohmann::json;

TableSchema AllTypes() {
  auto r = TableSchemaFromResource(json::parse(R"({"schema": {"fields": [
    {"name": "i", "type": "INTEGER"}, {"name": "n", "type": "NUMERIC"},
    {"name": "bn", "type": "BIGNUMERIC"}, {"name": "f", "type": "FLOAT"},
    {"name": "b", "type": "BOOLEAN"}, {"name": "s", "type": "STRING"},
    {"name": "by", "type": "BYTES"}, {"name": "ts", "type": "TIMESTAMP"},
    {"name": "dt", "type": "DATETIME"}, {"name": "d", "type": "DATE"},
    {"name": "t", "type": "TIME"}, {"name": "j", "type": "JSON"},
    {"name": "arr", "type": "INTEGER", "mode": "REPEATED"},
    {"name": "rec", "type": "RECORD", "fields": [{"name": "x", "type": "STRING"}]},
    {"name": "z", "type": "STRING"}]},
    "tableConstraints": {"primaryKey": {"columns": ["i"]}}})"));
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return *r;
}

json Stored() {
  return json::parse(
      R"({"i": "-9223372036854775808", "n": "12.5", "bn": "-0.00000000000000000000000000000000000001",
    "f": 1.5, "b": true, "s": "h\u00e9", "by": "AAE=", "ts": "2024-01-02T03:04:05.000006Z",
    "dt": "2024-01-02T03:04:05.000000", "d": "2024-01-02", "t": "23:59:59.999999",
    "j": {"k": [1, null]}, "arr": ["1", "2"], "rec": {"x": "y"}, "z": null})");
}

TEST(RowFormat, DumpLineKeepsTableOrderAndStoredForms) {
  EXPECT_EQ(ToDumpLine(AllTypes().columns, Stored()),
            R"({"i":"-9223372036854775808","n":"12.5",)"
            R"("bn":"-0.00000000000000000000000000000000000001","f":1.5,"b":true,"s":"hé",)"
            R"("by":"AAE=","ts":"2024-01-02T03:04:05.000006Z","dt":"2024-01-02T03:04:05.000000",)"
            R"("d":"2024-01-02","t":"23:59:59.999999","j":{"k":[1,null]},"arr":["1","2"],)"
            R"("rec":{"x":"y"},"z":null})");
}

TEST(RowFormat, TableDataListCells) {
  json row = ToTableDataRow(AllTypes().columns, Stored(), /*use_int64_timestamp=*/true);
  const json& f = row["f"];
  EXPECT_EQ(f[0]["v"], "-9223372036854775808");
  EXPECT_EQ(f[3]["v"], "1.5");
  EXPECT_EQ(f[4]["v"], "true");
  EXPECT_EQ(f[7]["v"], "1704164645000006");
  EXPECT_EQ(f[11]["v"], R"({"k":[1,null]})");
  EXPECT_EQ(f[12]["v"], json::parse(R"([{"v":"1"},{"v":"2"}])"));
  EXPECT_EQ(f[13]["v"], json::parse(R"({"f":[{"v":"y"}]})"));
  EXPECT_TRUE(f[14]["v"].is_null());
  json seconds = ToTableDataRow(AllTypes().columns, Stored(), false);
  EXPECT_EQ(seconds["f"][7]["v"], "1704164645.000006");
}

TEST(RowFormat, KeyOrderIsByTypeNotText) {
  EXPECT_LT(CompareStoredValues(ColumnType::kInt64, "9", "10"), 0);
  EXPECT_LT(CompareStoredValues(ColumnType::kInt64, "-10", "-9"), 0);
  EXPECT_LT(CompareStoredValues(ColumnType::kNumeric, "-1.5", "-1.25"), 0);
  EXPECT_EQ(CompareStoredValues(ColumnType::kNumeric, "1.50", "1.5"), 0);
  EXPECT_LT(CompareStoredValues(ColumnType::kNumeric, "0.09", "0.1"), 0);
  EXPECT_LT(CompareStoredValues(ColumnType::kString, nullptr, ""), 0);  // NULL first
  EXPECT_LT(CompareStoredValues(ColumnType::kFloat64, "-Infinity", -1e300), 0);
  EXPECT_LT(CompareStoredValues(ColumnType::kBytes, "AA==", "/w=="), 0);  // 0x00 < 0xff
  std::vector<json> rows = {json{{"i", "10"}}, json{{"i", "9"}}, json{{"i", nullptr}},
                            json{{"i", "-3"}}};
  SortRowsByKey(AllTypes(), &rows);
  EXPECT_TRUE(rows[0]["i"].is_null());
  EXPECT_EQ(rows[1]["i"], "-3");
  EXPECT_EQ(rows[2]["i"], "9");
  EXPECT_EQ(rows[3]["i"], "10");
}

}  // namespace
}  // namespace pg2bq::bqemu
