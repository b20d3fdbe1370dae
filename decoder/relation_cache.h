// Relation descriptions from pgoutput Relation messages, keyed by OID.
//
// pgoutput sends a Relation message before the first change of a relation in
// each session, and again after its schema changed. Entries are immutable
// and shared: a Relation message for a known OID installs a new entry with a
// higher version (a schema change) while buffered changes that still point to
// the old one keep it alive.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "decoder/pgoutput_message.h"

namespace pg2bq {

struct RelationColumn {
  std::string name;
  Oid type_oid = 0;
  std::int32_t type_modifier = -1;
  bool is_key = false;  // part of the replica identity
};

struct Relation {
  Oid oid = 0;
  std::string nspname;  // "public" ... (pgoutput sends "" for pg_catalog)
  std::string name;
  std::string qualified_name;  // "schema.name", for logs and output
  char replica_identity = 'd';
  std::vector<RelationColumn> columns;
  // 1 for the first Relation message of this OID, +1 per replacement.
  std::uint64_t version = 1;
};

class RelationCache {
 public:
  // Installs the relation described by a Relation message. *schema_changed
  // is set when an entry for the OID existed and differs (columns, types,
  // names or replica identity); an identical re-send is not a change.
  std::shared_ptr<const Relation> Update(const PgoutputMessage& relation_message,
                                         bool* schema_changed);
  // nullptr if no Relation message was seen for `oid`.
  const std::shared_ptr<const Relation>* Find(Oid oid) const;
  std::size_t size() const { return by_oid_.size(); }

 private:
  std::unordered_map<Oid, std::shared_ptr<const Relation>> by_oid_;
};

}  // namespace pg2bq
