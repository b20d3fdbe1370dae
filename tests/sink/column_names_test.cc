#include "sink/column_names.h"

#include <gtest/gtest.h>

namespace pg2bq::sink {
namespace {

TEST(ColumnNamesTest, KeepsValidNames) {
  EXPECT_EQ(SanitizeColumnNames({"id", "Name_2", "_x"}),
            (std::vector<std::string>{"id", "Name_2", "_x"}));
}

TEST(ColumnNamesTest, ReplacesInvalidCharactersAndLeadingDigits) {
  EXPECT_EQ(SanitizeColumnNames({"first name", "a.b", "1st", "", "ünï"}),
            (std::vector<std::string>{"first_name", "a_b", "_1st", "_", "__n__"}));
}

TEST(ColumnNamesTest, ReservedPrefixesArePrefixed) {
  EXPECT_EQ(
      SanitizeColumnNames({"_TABLE_x", "_change_type", "_partitiontime", "_pg2bq_op"}),
      (std::vector<std::string>{"pg_TABLE_x", "pg_change_type", "pg_partitiontime", "_pg2bq_op"}));
}

TEST(ColumnNamesTest, CaseInsensitiveDuplicatesGetSuffixes) {
  EXPECT_EQ(SanitizeColumnNames({"a b", "a_b", "A_B", "a_b_2"}),
            (std::vector<std::string>{"a_b", "a_b_2", "A_B_3", "a_b_2_2"}));
  // Names the change log adds are taken.
  EXPECT_EQ(SanitizeColumnNames({"_pg2bq_op"}, {"_pg2bq_op"}),
            (std::vector<std::string>{"_pg2bq_op_2"}));
}

TEST(ColumnNamesTest, LongNamesAreCut) {
  std::string long_name(400, 'x');
  auto out = SanitizeColumnNames({long_name, long_name});
  EXPECT_EQ(out[0].size(), kMaxColumnNameLength);
  EXPECT_EQ(out[1].size(), kMaxColumnNameLength);
  EXPECT_NE(out[0], out[1]);
}

}  // namespace
}  // namespace pg2bq::sink

namespace pg2bq::sink {
namespace {

TEST(TargetTableIdTest, TemplatesAndDefault) {
  EXPECT_EQ(TargetTableId("", "public", "orders"), "orders");
  EXPECT_EQ(TargetTableId("", "sales", "orders"), "sales_orders");
  EXPECT_EQ(TargetTableId(kDefaultTableNameTemplate, "public", "orders"), "orders");
  EXPECT_EQ(TargetTableId("{schema}_{table}", "public", "orders"), "public_orders");
  EXPECT_EQ(TargetTableId("pg_{table}", "s", "t"), "pg_t");
  EXPECT_EQ(TargetTableId("{schema_}{table}_v1", "s", "t"), "s_t_v1");
  // Sanitized like column names: what BigQuery would refuse is replaced.
  EXPECT_EQ(TargetTableId("{schema_}{table}", "My Schema", "tab.le"),
            SanitizeTableId("My Schema_tab.le"));
}

}  // namespace
}  // namespace pg2bq::sink
