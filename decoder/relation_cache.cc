#include "decoder/relation_cache.h"

namespace pg2bq {

namespace {

bool SameShape(const Relation& a, const Relation& b) {
  if (a.nspname != b.nspname || a.name != b.name || a.replica_identity != b.replica_identity ||
      a.columns.size() != b.columns.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.columns.size(); ++i) {
    const RelationColumn& x = a.columns[i];
    const RelationColumn& y = b.columns[i];
    if (x.name != y.name || x.type_oid != y.type_oid || x.type_modifier != y.type_modifier ||
        x.is_key != y.is_key) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::shared_ptr<const Relation> RelationCache::Update(const PgoutputMessage& m,
                                                      bool* schema_changed) {
  auto rel = std::make_shared<Relation>();
  rel->oid = m.oid;
  rel->nspname.assign(m.nspname);
  rel->name.assign(m.name);
  // pgoutput sends an empty namespace for pg_catalog.
  rel->qualified_name =
      (m.nspname.empty() ? std::string("pg_catalog") : rel->nspname) + "." + rel->name;
  rel->replica_identity = m.replica_identity;
  rel->columns.reserve(m.relation_columns.size());
  for (const RelationColumnMessage& c : m.relation_columns) {
    rel->columns.push_back(
        RelationColumn{std::string(c.name), c.type_oid, c.type_modifier, (c.flags & 1) != 0});
  }
  *schema_changed = false;
  auto& slot = by_oid_[m.oid];
  if (slot) {
    if (SameShape(*slot, *rel)) return slot;
    rel->version = slot->version + 1;
    *schema_changed = true;
  }
  slot = std::move(rel);
  return slot;
}

const std::shared_ptr<const Relation>* RelationCache::Find(Oid oid) const {
  auto it = by_oid_.find(oid);
  return it == by_oid_.end() ? nullptr : &it->second;
}

}  // namespace pg2bq
