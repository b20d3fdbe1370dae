#include "sink/decoder_adapter.h"

#include "sink/type_mapping.h"

namespace pg2bq::sink {
namespace {

// A built-in OID with the same text form and mapping as a resolved kind.
std::uint32_t OidOfKind(PgTypeKind kind) {
  switch (kind) {
    case PgTypeKind::kBool:
      return oid::kBool;
    case PgTypeKind::kInt2:
      return oid::kInt2;
    case PgTypeKind::kInt4:
      return oid::kInt4;
    case PgTypeKind::kInt8:
      return oid::kInt8;
    case PgTypeKind::kOid:
      return oid::kOid;
    case PgTypeKind::kFloat4:
      return oid::kFloat4;
    case PgTypeKind::kFloat8:
      return oid::kFloat8;
    case PgTypeKind::kNumeric:
      return oid::kNumeric;
    case PgTypeKind::kText:
      return oid::kText;
    case PgTypeKind::kBytea:
      return oid::kBytea;
    case PgTypeKind::kUuid:
      return oid::kUuid;
    case PgTypeKind::kDate:
      return oid::kDate;
    case PgTypeKind::kTime:
      return oid::kTime;
    case PgTypeKind::kTimeTz:
      return oid::kTimetz;
    case PgTypeKind::kTimestamp:
      return oid::kTimestamp;
    case PgTypeKind::kTimestampTz:
      return oid::kTimestamptz;
    case PgTypeKind::kInterval:
      return oid::kInterval;
    case PgTypeKind::kJson:
      return oid::kJson;
    case PgTypeKind::kJsonb:
      return oid::kJsonb;
    case PgTypeKind::kInet:
      return oid::kInet;
    case PgTypeKind::kCidr:
      return oid::kCidr;
    case PgTypeKind::kMacaddr:
      return oid::kMacaddr;
    case PgTypeKind::kMoney:
      return oid::kMoney;
    default:
      return 0;
  }
}

// Built-in array OID of a built-in element OID (inverse of ArrayElementOid for the kinds above).
std::uint32_t ArrayOidOf(std::uint32_t element) {
  static constexpr std::uint32_t kCandidates[] = {1000, 1001, 1005, 1007, 1009, 1016, 1021, 1022,
                                                  1028, 199,  651,  791,  1040, 1041, 1182, 1183,
                                                  1115, 1185, 1187, 1270, 1231, 2951, 3807};
  for (auto a : kCandidates)
    if (ArrayElementOid(a) == element) return a;
  return 0;
}

}  // namespace

SourceRelation ToSourceRelation(const Relation& relation, const PgTypeRegistry& types) {
  SourceRelation r;
  r.oid = relation.oid;
  r.schema = relation.nspname.empty() ? "pg_catalog" : relation.nspname;
  r.name = relation.name;
  for (const auto& c : relation.columns) {
    SourceColumn sc;
    sc.name = c.name;
    sc.type_oid = c.type_oid;
    sc.typmod = c.type_modifier;
    sc.is_key = c.is_key;
    std::string_view qualified = types.NameOf(c.type_oid);
    const auto dot = qualified.rfind('.');
    sc.type_name =
        std::string(dot == std::string_view::npos ? qualified : qualified.substr(dot + 1));
    // Types the mapping does not know by OID: use what the registry resolved them to.
    const bool builtin =
        ArrayElementOid(c.type_oid) != 0 || OidOfKind(types.Resolve(c.type_oid).kind) == c.type_oid;
    if (!builtin) {
      const PgType t = types.Resolve(c.type_oid);
      if (t.kind == PgTypeKind::kEnum) {
        sc.is_enum = true;
      } else if (t.kind == PgTypeKind::kArray) {
        const std::uint32_t element =
            t.element == PgTypeKind::kEnum ? oid::kText : OidOfKind(t.element);
        sc.base_type_oid = element ? ArrayOidOf(element) : 0;
      } else if (t.known()) {
        sc.base_type_oid = OidOfKind(t.kind);
      }
    }
    r.columns.push_back(std::move(sc));
  }
  return r;
}

Status TupleConverter::Convert(const Relation& relation, const PgTypeRegistry& /*types*/,
                               const TupleData& tuple, std::vector<SourceValue>* out) {
  out->clear();
  if (tuple.columns.size() != relation.columns.size()) {
    return Status::Corruption("relation " + relation.qualified_name + ": tuple has " +
                              std::to_string(tuple.columns.size()) + " columns, relation " +
                              std::to_string(relation.columns.size()));
  }
  for (std::size_t i = 0; i < tuple.columns.size(); ++i) {
    const ColumnValue& c = tuple.columns[i];
    switch (c.state) {
      case ColumnState::kNull:
        out->push_back(SourceValue::Null());
        break;
      case ColumnState::kUnchangedToast:
        out->push_back(SourceValue::Unchanged());
        break;
      case ColumnState::kText:
        out->push_back(SourceValue::Text(c.data));
        break;
      case ColumnState::kBinary:
        // The row encoder decodes binary values with the decoder itself.
        out->push_back(SourceValue{ValueState::kBinary, c.data});
        break;
    }
  }
  return Status::Ok();
}

}  // namespace pg2bq::sink
