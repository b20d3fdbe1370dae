#include "agent/type_catalog.h"

#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include <chrono>

namespace pg2bq::agent {

Status TypeCatalog::RegisterColumnTypes(const Relation& relation, PgTypeRegistry* registry) {
  for (const RelationColumn& col : relation.columns) {
    if (registry->IsKnown(col.type_oid) || looked_up_.count(col.type_oid)) continue;
    PG2BQ_RETURN_IF_ERROR(RegisterOid(col.type_oid, registry, 0)
                              .WithContext("looking up the type of column " +
                                           relation.qualified_name + "." + col.name));
  }
  return Status::Ok();
}

Status TypeCatalog::RegisterOid(Oid oid, PgTypeRegistry* registry, int depth) {
  if (depth > 16 || oid == 0 || registry->IsKnown(oid) || looked_up_.count(oid)) {
    return Status::Ok();
  }
  if (!conn_) {
    PG2BQ_ASSIGN_OR_RETURN(conn_, PgConnection::Connect(dsn_, ConnectionKind::kNormal,
                                                        std::chrono::seconds(15), cancel_));
  }
  PG2BQ_ASSIGN_OR_RETURN(auto res,
                         conn_->Exec("SELECT typtype, typcategory, typbasetype, typelem, "
                                     "format_type(oid, NULL) FROM pg_catalog.pg_type WHERE oid = " +
                                         std::to_string(oid),
                                     std::chrono::seconds(30), cancel_));
  looked_up_.insert(oid);
  if (PQntuples(res.get()) != 1) {
    spdlog::warn("type OID {} not found in pg_type; its values keep their text form", oid);
    return Status::Ok();
  }
  PgTypeDescription d;
  d.oid = oid;
  d.typtype = PQgetvalue(res.get(), 0, 0)[0];
  d.typcategory = PQgetvalue(res.get(), 0, 1)[0];
  d.typbasetype = static_cast<Oid>(std::stoul(PQgetvalue(res.get(), 0, 2)));
  d.typelem = static_cast<Oid>(std::stoul(PQgetvalue(res.get(), 0, 3)));
  d.name = PQgetvalue(res.get(), 0, 4);
  // Inner types first, so the registry can follow domain and element chains.
  if (d.typtype == 'd') PG2BQ_RETURN_IF_ERROR(RegisterOid(d.typbasetype, registry, depth + 1));
  if (d.typcategory == 'A') PG2BQ_RETURN_IF_ERROR(RegisterOid(d.typelem, registry, depth + 1));
  PG2BQ_RETURN_IF_ERROR(registry->Register(d));
  if (!registry->IsKnown(oid)) {
    spdlog::info("type {} (OID {}) is not decoded; values keep their text form", d.name, oid);
  }
  return Status::Ok();
}

}  // namespace pg2bq::agent
