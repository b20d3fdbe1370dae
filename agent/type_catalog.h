// Looks up column types the decoder cannot know by OID (domains, enums, arrays of
// them, composite/range types) in pg_type over a normal SQL connection, and registers
// them with the decoder's PgTypeRegistry. Called when a Relation message arrives,
// before that relation's first change is decoded.
#pragma once

#include <memory>
#include <string>
#include <unordered_set>

#include "agent/cancellation.h"
#include "agent/pg_connection.h"
#include "common/status.h"
#include "decoder/pg_type.h"
#include "decoder/relation_cache.h"

namespace pg2bq::agent {

class TypeCatalog {
 public:
  // `dsn` is the same conninfo the stream uses; a normal (non-replication)
  // connection is opened on first need and kept.
  TypeCatalog(std::string dsn, const Cancellation* cancel)
      : dsn_(std::move(dsn)), cancel_(cancel) {}

  // Registers every column type of `relation` the registry does not resolve yet.
  Status RegisterColumnTypes(const Relation& relation, PgTypeRegistry* registry);

 private:
  Status RegisterOid(Oid oid, PgTypeRegistry* registry, int depth);
  std::string dsn_;
  const Cancellation* cancel_;
  std::unique_ptr<PgConnection> conn_;
  std::unordered_set<Oid> looked_up_;  // registered or found not decodable
};

}  // namespace pg2bq::agent
