// DescriptorStore: the versions of each replicated table's shape, persisted under
// <state_dir>/descriptors so a spooled batch can always be sent with the descriptor it was
// encoded with -- also after a restart, when the spool records that introduced the version
// may already have been deleted below the sink checkpoint.
//
// A version is stored as the SourceRelation it was built from (JSON, written atomically);
// the TableDescriptor is rebuilt from it deterministically with the agent's options.
// Thread-safe: the reader adds versions while flushers look them up.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "common/status.h"
#include "sink/source_relation.h"
#include "sink/table_descriptor.h"

namespace pg2bq::agent::pipeline {

std::string SourceRelationToJson(const sink::SourceRelation& relation);
Result<sink::SourceRelation> SourceRelationFromJson(std::string_view text);

class DescriptorStore {
 public:
  DescriptorStore(std::string dir, sink::DescriptorOptions options)
      : dir_(std::move(dir)), options_(options) {}

  // Creates the directory and loads every stored version.
  Status Load();

  // The current version for `relation`: the latest stored one when the shape is the same,
  // else a new version (persisted before it is returned). *created tells which.
  Result<std::shared_ptr<const sink::TableDescriptor>> Update(const sink::SourceRelation& relation,
                                                              bool* created);

  // A stored version, or NotFound.
  Result<std::shared_ptr<const sink::TableDescriptor>> Find(std::uint32_t relation_oid,
                                                            std::uint32_t version);
  // The serialized form of a version (what the spool's DescriptorVersion record carries).
  Result<std::string> Serialized(std::uint32_t relation_oid, std::uint32_t version);

 private:
  struct Entry {
    sink::SourceRelation relation;
    std::string json;
    std::shared_ptr<const sink::TableDescriptor> descriptor;  // built on first use
  };
  using Key = std::pair<std::uint32_t, std::uint32_t>;  // oid, version

  Status BuildLocked(Entry* entry, std::uint32_t version);

  const std::string dir_;
  const sink::DescriptorOptions options_;
  std::mutex mu_;
  std::map<Key, Entry> versions_;
};

}  // namespace pg2bq::agent::pipeline
