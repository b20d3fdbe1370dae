// DescriptorStore: versions are assigned per shape, persisted, and found again after a
// restart (the spool may no longer hold the records that introduced them).
#include "agent/pipeline/descriptor_store.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "tests/bq_emulator/emulator_process.h"

namespace pg2bq::agent::pipeline {
namespace {

sink::SourceRelation Orders() {
  sink::SourceRelation r;
  r.oid = 16384;
  r.schema = "public";
  r.name = "orders";
  sink::SourceColumn id;
  id.name = "id";
  id.type_oid = 20;
  id.is_key = true;
  sink::SourceColumn mood;
  mood.name = "mood";
  mood.type_oid = 16390;
  mood.type_name = "mood";
  mood.is_enum = true;
  r.columns = {id, mood};
  return r;
}

TEST(DescriptorStoreTest, JsonRoundTrip) {
  const auto r = Orders();
  auto back = SourceRelationFromJson(SourceRelationToJson(r));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, r);
  EXPECT_FALSE(SourceRelationFromJson("{\"oid\": 1}").ok());
  EXPECT_FALSE(SourceRelationFromJson("not json").ok());
}

TEST(DescriptorStoreTest, VersionsPerShapeSurviveReload) {
  bqemu::TempDir dir;
  const std::string path = dir.path() + "/descriptors";
  {
    DescriptorStore store(path, {});
    ASSERT_TRUE(store.Load().ok());
    bool created = false;
    auto v1 = store.Update(Orders(), &created);
    ASSERT_TRUE(v1.ok()) << v1.status().ToString();
    EXPECT_TRUE(created);
    EXPECT_EQ((*v1)->version, 1u);
    auto again = store.Update(Orders(), &created);
    ASSERT_TRUE(again.ok());
    EXPECT_FALSE(created);
    EXPECT_EQ((*again)->version, 1u);
    auto changed = Orders();
    sink::SourceColumn note;
    note.name = "note";
    note.type_oid = 25;
    changed.columns.push_back(note);
    auto v2 = store.Update(changed, &created);
    ASSERT_TRUE(v2.ok());
    EXPECT_TRUE(created);
    EXPECT_EQ((*v2)->version, 2u);
    EXPECT_EQ((*v2)->columns.size(), 3u);
  }
  EXPECT_TRUE(std::filesystem::exists(path + "/16384.1.json"));
  EXPECT_TRUE(std::filesystem::exists(path + "/16384.2.json"));
  DescriptorStore reloaded(path, {});
  ASSERT_TRUE(reloaded.Load().ok());
  auto v1 = reloaded.Find(16384, 1);
  ASSERT_TRUE(v1.ok());
  EXPECT_EQ((*v1)->columns.size(), 2u);
  EXPECT_EQ(reloaded.Find(16384, 3).status().code(), Status::Code::kNotFound);
  // The same shape as the latest version keeps it; going back to v1's shape is a new one.
  bool created = false;
  auto back = reloaded.Update(Orders(), &created);
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(created);
  EXPECT_EQ((*back)->version, 3u);
}

TEST(DescriptorStoreTest, DamagedFileIsReported) {
  bqemu::TempDir dir;
  const std::string path = dir.path() + "/descriptors";
  std::filesystem::create_directories(path);
  FILE* f = std::fopen((path + "/7.1.json").c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs("{broken", f);
  std::fclose(f);
  DescriptorStore store(path, {});
  Status s = store.Load();
  EXPECT_EQ(s.code(), Status::Code::kCorruption);
  EXPECT_NE(s.message().find("7.1.json"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace pg2bq::agent::pipeline
