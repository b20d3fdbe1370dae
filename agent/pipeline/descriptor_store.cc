#include "agent/pipeline/descriptor_store.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "spool/file_util.h"

namespace pg2bq::agent::pipeline {

using nlohmann::json;

std::string SourceRelationToJson(const sink::SourceRelation& r) {
  json cols = json::array();
  for (const auto& c : r.columns) {
    cols.push_back({{"name", c.name},
                    {"type_oid", c.type_oid},
                    {"typmod", c.typmod},
                    {"is_key", c.is_key},
                    {"type_name", c.type_name},
                    {"base_type_oid", c.base_type_oid},
                    {"is_enum", c.is_enum}});
  }
  return json{{"oid", r.oid}, {"schema", r.schema}, {"name", r.name}, {"columns", cols}}.dump();
}

Result<sink::SourceRelation> SourceRelationFromJson(std::string_view text) {
  try {
    const json j = json::parse(text);
    sink::SourceRelation r;
    r.oid = j.at("oid").get<std::uint32_t>();
    r.schema = j.at("schema").get<std::string>();
    r.name = j.at("name").get<std::string>();
    for (const auto& c : j.at("columns")) {
      sink::SourceColumn col;
      col.name = c.at("name").get<std::string>();
      col.type_oid = c.at("type_oid").get<std::uint32_t>();
      col.typmod = c.at("typmod").get<std::int32_t>();
      col.is_key = c.at("is_key").get<bool>();
      col.type_name = c.at("type_name").get<std::string>();
      col.base_type_oid = c.at("base_type_oid").get<std::uint32_t>();
      col.is_enum = c.at("is_enum").get<bool>();
      r.columns.push_back(std::move(col));
    }
    return r;
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("table descriptor: ") + e.what());
  }
}

Status DescriptorStore::Load() {
  PG2BQ_RETURN_IF_ERROR(spool::EnsurePrivateDir(dir_));
  std::lock_guard lock(mu_);
  for (const auto& f : std::filesystem::directory_iterator(dir_)) {
    const std::string name = f.path().filename().string();
    unsigned oid = 0, version = 0;
    char tail = 0;
    if (std::sscanf(name.c_str(), "%u.%u.jso%c", &oid, &version, &tail) != 3 || tail != 'n' ||
        name.size() < 5 || name.substr(name.size() - 5) != ".json")
      continue;
    PG2BQ_ASSIGN_OR_RETURN(std::string text, spool::ReadWholeFile(f.path().string()));
    auto rel = SourceRelationFromJson(text);
    if (!rel.ok()) return Status::Corruption(f.path().string() + ": " + rel.status().message());
    versions_[{oid, version}] = Entry{*rel, text, nullptr};
  }
  return Status::Ok();
}

Status DescriptorStore::BuildLocked(Entry* entry, std::uint32_t version) {
  if (entry->descriptor) return Status::Ok();
  PG2BQ_ASSIGN_OR_RETURN(entry->descriptor,
                         sink::BuildTableDescriptor(entry->relation, options_, version));
  return Status::Ok();
}

Result<std::shared_ptr<const sink::TableDescriptor>> DescriptorStore::Update(
    const sink::SourceRelation& relation, bool* created) {
  std::lock_guard lock(mu_);
  *created = false;
  std::uint32_t latest = 0;
  auto it = versions_.lower_bound({relation.oid + 1, 0});
  if (it != versions_.begin()) {
    auto prev = std::prev(it);
    if (prev->first.first == relation.oid) {
      latest = prev->first.second;
      if (prev->second.relation == relation) {
        PG2BQ_RETURN_IF_ERROR(BuildLocked(&prev->second, latest));
        return prev->second.descriptor;
      }
    }
  }
  const std::uint32_t version = latest + 1;
  Entry entry{relation, SourceRelationToJson(relation), nullptr};
  PG2BQ_RETURN_IF_ERROR(BuildLocked(&entry, version));
  PG2BQ_RETURN_IF_ERROR(spool::WriteFileAtomically(
      dir_ + "/" + std::to_string(relation.oid) + "." + std::to_string(version) + ".json",
      entry.json));
  auto d = entry.descriptor;
  versions_[{relation.oid, version}] = std::move(entry);
  *created = true;
  return d;
}

Result<std::shared_ptr<const sink::TableDescriptor>> DescriptorStore::Find(
    std::uint32_t relation_oid, std::uint32_t version) {
  std::lock_guard lock(mu_);
  auto it = versions_.find({relation_oid, version});
  if (it == versions_.end()) {
    return Status::NotFound("no descriptor version " + std::to_string(version) + " for relation " +
                            std::to_string(relation_oid) + " in " + dir_);
  }
  PG2BQ_RETURN_IF_ERROR(BuildLocked(&it->second, version));
  return it->second.descriptor;
}

Result<std::string> DescriptorStore::Serialized(std::uint32_t relation_oid, std::uint32_t version) {
  std::lock_guard lock(mu_);
  auto it = versions_.find({relation_oid, version});
  if (it == versions_.end()) return Status::NotFound("no descriptor version");
  return it->second.json;
}

}  // namespace pg2bq::agent::pipeline
