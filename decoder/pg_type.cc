#include "decoder/pg_type.h"

namespace pg2bq {

std::string_view PgTypeKindName(PgTypeKind kind) {
  switch (kind) {
    case PgTypeKind::kUnknown:
      return "unknown";
    case PgTypeKind::kBool:
      return "bool";
    case PgTypeKind::kInt2:
      return "int2";
    case PgTypeKind::kInt4:
      return "int4";
    case PgTypeKind::kInt8:
      return "int8";
    case PgTypeKind::kOid:
      return "oid";
    case PgTypeKind::kFloat4:
      return "float4";
    case PgTypeKind::kFloat8:
      return "float8";
    case PgTypeKind::kNumeric:
      return "numeric";
    case PgTypeKind::kText:
      return "text";
    case PgTypeKind::kBytea:
      return "bytea";
    case PgTypeKind::kUuid:
      return "uuid";
    case PgTypeKind::kDate:
      return "date";
    case PgTypeKind::kTime:
      return "time";
    case PgTypeKind::kTimeTz:
      return "timetz";
    case PgTypeKind::kTimestamp:
      return "timestamp";
    case PgTypeKind::kTimestampTz:
      return "timestamptz";
    case PgTypeKind::kInterval:
      return "interval";
    case PgTypeKind::kJson:
      return "json";
    case PgTypeKind::kJsonb:
      return "jsonb";
    case PgTypeKind::kInet:
      return "inet";
    case PgTypeKind::kCidr:
      return "cidr";
    case PgTypeKind::kMacaddr:
      return "macaddr";
    case PgTypeKind::kMoney:
      return "money";
    case PgTypeKind::kEnum:
      return "enum";
    case PgTypeKind::kArray:
      return "array";
  }
  return "unknown";
}

namespace {

PgTypeKind BuiltinScalar(Oid oid) {
  switch (oid) {
    case pg_oid::kBool:
      return PgTypeKind::kBool;
    case pg_oid::kInt2:
      return PgTypeKind::kInt2;
    case pg_oid::kInt4:
      return PgTypeKind::kInt4;
    case pg_oid::kInt8:
      return PgTypeKind::kInt8;
    case pg_oid::kOid:
      return PgTypeKind::kOid;
    case pg_oid::kFloat4:
      return PgTypeKind::kFloat4;
    case pg_oid::kFloat8:
      return PgTypeKind::kFloat8;
    case pg_oid::kNumeric:
      return PgTypeKind::kNumeric;
    case pg_oid::kText:
    case pg_oid::kVarchar:
    case pg_oid::kBpchar:
    case pg_oid::kName:
      return PgTypeKind::kText;
    // "char" (OID 18) is deliberately unknown: charout() prints a high-bit
    // byte as a backslash-octal escape, which a view of the binary byte
    // cannot reproduce. Text mode passes its text through.
    case pg_oid::kBytea:
      return PgTypeKind::kBytea;
    case pg_oid::kUuid:
      return PgTypeKind::kUuid;
    case pg_oid::kDate:
      return PgTypeKind::kDate;
    case pg_oid::kTime:
      return PgTypeKind::kTime;
    case pg_oid::kTimeTz:
      return PgTypeKind::kTimeTz;
    case pg_oid::kTimestamp:
      return PgTypeKind::kTimestamp;
    case pg_oid::kTimestampTz:
      return PgTypeKind::kTimestampTz;
    case pg_oid::kInterval:
      return PgTypeKind::kInterval;
    case pg_oid::kJson:
      return PgTypeKind::kJson;
    case pg_oid::kJsonb:
      return PgTypeKind::kJsonb;
    case pg_oid::kInet:
      return PgTypeKind::kInet;
    case pg_oid::kCidr:
      return PgTypeKind::kCidr;
    case pg_oid::kMacaddr:
      return PgTypeKind::kMacaddr;
    case pg_oid::kMoney:
      return PgTypeKind::kMoney;
    default:
      return PgTypeKind::kUnknown;
  }
}

// Built-in array type OID -> element OID (pg_type.dat typarray).
Oid BuiltinArrayElement(Oid oid) {
  switch (oid) {
    case 1000:
      return pg_oid::kBool;
    case 1005:
      return pg_oid::kInt2;
    case 1007:
      return pg_oid::kInt4;
    case 1016:
      return pg_oid::kInt8;
    case 1028:
      return pg_oid::kOid;
    case 1021:
      return pg_oid::kFloat4;
    case 1022:
      return pg_oid::kFloat8;
    case 1231:
      return pg_oid::kNumeric;
    case 1009:
      return pg_oid::kText;
    case 1015:
      return pg_oid::kVarchar;
    case 1014:
      return pg_oid::kBpchar;
    case 1003:
      return pg_oid::kName;
    case 1001:
      return pg_oid::kBytea;
    case 2951:
      return pg_oid::kUuid;
    case 1182:
      return pg_oid::kDate;
    case 1183:
      return pg_oid::kTime;
    case 1270:
      return pg_oid::kTimeTz;
    case 1115:
      return pg_oid::kTimestamp;
    case 1185:
      return pg_oid::kTimestampTz;
    case 1187:
      return pg_oid::kInterval;
    case 199:
      return pg_oid::kJson;
    case 3807:
      return pg_oid::kJsonb;
    case 1041:
      return pg_oid::kInet;
    case 651:
      return pg_oid::kCidr;
    case 1040:
      return pg_oid::kMacaddr;
    case 791:
      return pg_oid::kMoney;
    default:
      return 0;
  }
}

constexpr int kMaxDomainDepth = 16;

// pg_catalog type names -> OID, for Type messages: pgoutput names a domain
// by its base type (logicalrep_write_typ() calls getBaseType()).
Oid BuiltinOidByName(std::string_view name) {
  struct Entry {
    std::string_view name;
    Oid oid;
  };
  static constexpr Entry kEntries[] = {
      {"bool", pg_oid::kBool},
      {"bytea", pg_oid::kBytea},
      {"char", pg_oid::kChar},
      {"name", pg_oid::kName},
      {"int8", pg_oid::kInt8},
      {"int2", pg_oid::kInt2},
      {"int4", pg_oid::kInt4},
      {"text", pg_oid::kText},
      {"oid", pg_oid::kOid},
      {"json", pg_oid::kJson},
      {"float4", pg_oid::kFloat4},
      {"float8", pg_oid::kFloat8},
      {"money", pg_oid::kMoney},
      {"macaddr", pg_oid::kMacaddr},
      {"inet", pg_oid::kInet},
      {"cidr", pg_oid::kCidr},
      {"bpchar", pg_oid::kBpchar},
      {"varchar", pg_oid::kVarchar},
      {"date", pg_oid::kDate},
      {"time", pg_oid::kTime},
      {"timestamp", pg_oid::kTimestamp},
      {"timestamptz", pg_oid::kTimestampTz},
      {"interval", pg_oid::kInterval},
      {"timetz", pg_oid::kTimeTz},
      {"numeric", pg_oid::kNumeric},
      {"uuid", pg_oid::kUuid},
      {"jsonb", pg_oid::kJsonb},
      {"_bool", 1000},
      {"_int2", 1005},
      {"_int4", 1007},
      {"_int8", 1016},
      {"_oid", 1028},
      {"_float4", 1021},
      {"_float8", 1022},
      {"_numeric", 1231},
      {"_text", 1009},
      {"_varchar", 1015},
      {"_bpchar", 1014},
      {"_name", 1003},
      {"_char", 1002},
      {"_bytea", 1001},
      {"_uuid", 2951},
      {"_date", 1182},
      {"_time", 1183},
      {"_timetz", 1270},
      {"_timestamp", 1115},
      {"_timestamptz", 1185},
      {"_interval", 1187},
      {"_json", 199},
      {"_jsonb", 3807},
      {"_inet", 1041},
      {"_cidr", 651},
      {"_macaddr", 1040},
      {"_money", 791},
  };
  for (const Entry& e : kEntries) {
    if (e.name == name) return e.oid;
  }
  return 0;
}

}  // namespace

PgType PgTypeRegistry::Resolve(Oid oid) const {
  return ResolveDepth(oid, 0);
}

PgType PgTypeRegistry::ResolveDepth(Oid oid, int depth) const {
  PgType t;
  t.oid = oid;
  if (depth > kMaxDomainDepth) return t;
  if (PgTypeKind k = BuiltinScalar(oid); k != PgTypeKind::kUnknown) {
    t.kind = k;
    return t;
  }
  Oid elem = BuiltinArrayElement(oid);
  if (elem == 0) {
    auto it = custom_.find(oid);
    if (it == custom_.end()) return t;
    const PgTypeDescription& d = it->second;
    if (d.typtype == 'e') {
      t.kind = PgTypeKind::kEnum;
      return t;
    }
    if (d.typtype == 'd') {
      PgType base = ResolveDepth(d.typbasetype, depth + 1);
      base.oid = oid;
      return base;
    }
    if (d.typtype == 'b' && d.typcategory == 'A' && d.typelem != 0) {
      elem = d.typelem;
    } else {
      return t;
    }
  }
  PgType e = ResolveDepth(elem, depth + 1);
  if (!e.known() || e.kind == PgTypeKind::kArray) return t;
  t.kind = PgTypeKind::kArray;
  t.element_oid = elem;
  t.element = e.kind;
  return t;
}

Status PgTypeRegistry::Register(const PgTypeDescription& description) {
  if (description.oid == 0) return Status::InvalidArgument("type registration with OID 0");
  if (description.typtype == 'd' && description.typbasetype == 0) {
    return Status::InvalidArgument("domain type " + std::to_string(description.oid) + " (" +
                                   description.name + ") has no base type");
  }
  custom_[description.oid] = description;
  if (!description.name.empty()) names_[description.oid] = description.name;
  ++generation_;
  return Status::Ok();
}

void PgTypeRegistry::NoteTypeMessage(Oid oid, std::string_view nspname, std::string_view name) {
  std::string full;
  if (!nspname.empty()) {
    full.append(nspname);
    full += '.';
  }
  full.append(name);
  names_[oid] = std::move(full);
  // A Type message naming a pg_catalog type for a non-built-in OID is a
  // domain over that type. Explicit registrations win.
  if (nspname.empty() && !custom_.contains(oid)) {
    if (Oid base = BuiltinOidByName(name); base != 0 && base != oid) {
      PgTypeDescription d;
      d.oid = oid;
      d.typtype = 'd';
      d.typbasetype = base;
      d.name = std::string(name);
      custom_[oid] = std::move(d);
      ++generation_;
    }
  }
}

std::string_view PgTypeRegistry::NameOf(Oid oid) const {
  auto it = names_.find(oid);
  return it == names_.end() ? std::string_view() : std::string_view(it->second);
}

}  // namespace pg2bq
