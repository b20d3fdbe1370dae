#include "sink/table_descriptor.h"

#include "sink/column_names.h"

namespace pg2bq::sink {
namespace {

using google::protobuf::FieldDescriptorProto;

FieldDescriptorProto::Type ProtoType(BqType t) {
  switch (t) {
    case BqType::kBool:
      return FieldDescriptorProto::TYPE_BOOL;
    case BqType::kInt64:
    case BqType::kTimestamp:
      return FieldDescriptorProto::TYPE_INT64;
    case BqType::kFloat64:
      return FieldDescriptorProto::TYPE_DOUBLE;
    case BqType::kDate:
      return FieldDescriptorProto::TYPE_INT32;
    case BqType::kBytes:
      return FieldDescriptorProto::TYPE_BYTES;
    default:
      return FieldDescriptorProto::TYPE_STRING;
  }
}

bool IsPackable(FieldDescriptorProto::Type t) {
  return t != FieldDescriptorProto::TYPE_STRING && t != FieldDescriptorProto::TYPE_BYTES;
}

void AddField(google::protobuf::DescriptorProto* msg, const std::string& name, std::uint32_t number,
              FieldDescriptorProto::Type type, bool repeated) {
  auto* f = msg->add_field();
  f->set_name(name);
  f->set_number(static_cast<int>(number));
  f->set_type(type);
  f->set_label(repeated ? FieldDescriptorProto::LABEL_REPEATED
                        : FieldDescriptorProto::LABEL_OPTIONAL);
  if (repeated && IsPackable(type)) f->mutable_options()->set_packed(true);
}

nlohmann::json SchemaField(const std::string& name, std::string_view type, std::string_view mode,
                           const std::string& description) {
  nlohmann::json f = {{"name", name}, {"type", std::string(type)}, {"mode", std::string(mode)}};
  if (!description.empty()) f["description"] = description;
  return f;
}

}  // namespace

Result<std::shared_ptr<const TableDescriptor>> BuildTableDescriptor(
    const SourceRelation& relation, const DescriptorOptions& options, std::uint32_t version) {
  const std::string where = "table " + relation.schema + "." + relation.name;
  if (relation.columns.empty()) {
    return Status::InvalidArgument(where + ": a table without columns cannot be replicated");
  }
  auto d = std::make_shared<TableDescriptor>();
  d->relation_oid = relation.oid;
  d->pg_schema = relation.schema;
  d->pg_table = relation.name;
  d->bq_table = TargetTableId(options.table_name, relation.schema, relation.name);
  d->version = version;
  const bool keyed = relation.HasKey();
  d->mode = keyed && !options.changelog_for_keyed_tables ? WriteMode::kCdc : WriteMode::kChangeLog;

  std::vector<std::string> pg_names;
  for (const auto& c : relation.columns)
    pg_names.push_back(c.name);
  std::vector<std::string> extra;
  if (d->mode == WriteMode::kChangeLog)
    extra = {kChangeLogOpColumn, kChangeLogLsnColumn, kChangeLogCommitTimeColumn};
  const auto names = SanitizeColumnNames(pg_names, extra);

  auto& msg = d->proto;
  msg.set_name("pg2bq_row");
  nlohmann::json fields = nlohmann::json::array();
  std::uint32_t number = 1;
  for (std::size_t i = 0; i < relation.columns.size(); ++i) {
    const auto& c = relation.columns[i];
    DescriptorColumn dc;
    dc.bq_name = names[i];
    dc.pg_name = c.name;
    dc.mapping = MapColumn(c, options.mapping);
    dc.field_number = number++;
    dc.value_type_oid = c.base_type_oid != 0 ? c.base_type_oid : c.type_oid;
    dc.is_key = c.is_key && d->mode == WriteMode::kCdc;
    if (dc.mapping.fallback) d->fallback_columns.push_back(c.name);
    if (dc.is_key) {
      if (dc.mapping.repeated || dc.mapping.type == BqType::kJson) {
        return Status::FailedPrecondition(
            where + ": key column \"" + c.name +
            "\" maps to an array/JSON column, which BigQuery cannot use in a primary key; "
            "replicate it as a change log (mode=changelog) or change the replica identity");
      }
      d->key_columns.push_back(dc.bq_name);
    }
    AddField(&msg, dc.bq_name, dc.field_number, ProtoType(dc.mapping.type), dc.mapping.repeated);
    const std::string_view mode = dc.mapping.repeated ? "REPEATED"
                                  : dc.is_key         ? "REQUIRED"
                                                      : "NULLABLE";
    fields.push_back(
        SchemaField(dc.bq_name, BqTypeName(dc.mapping.type), mode,
                    dc.bq_name == c.name ? std::string() : "PostgreSQL column " + c.name));
    d->columns.push_back(std::move(dc));
  }
  if (d->key_columns.size() > kMaxPrimaryKeyColumns) {
    return Status::FailedPrecondition(
        where + ": the key has " + std::to_string(d->key_columns.size()) +
        " columns; BigQuery CDC allows at most 16. Replicate it as a change log "
        "(mode=changelog)");
  }
  if (d->mode == WriteMode::kChangeLog) {
    d->op_field = number++;
    d->lsn_field = number++;
    d->commit_time_field = number++;
    AddField(&msg, kChangeLogOpColumn, d->op_field, FieldDescriptorProto::TYPE_STRING, false);
    AddField(&msg, kChangeLogLsnColumn, d->lsn_field, FieldDescriptorProto::TYPE_STRING, false);
    AddField(&msg, kChangeLogCommitTimeColumn, d->commit_time_field,
             FieldDescriptorProto::TYPE_INT64, false);
    fields.push_back(
        SchemaField(kChangeLogOpColumn, "STRING", "REQUIRED", "INSERT, UPDATE or DELETE"));
    fields.push_back(SchemaField(kChangeLogLsnColumn, "STRING", "REQUIRED",
                                 "commit LSN / ordinal, 16 hex digits each: commit order; "
                                 "primary key (one row per source change)"));
    fields.push_back(SchemaField(kChangeLogCommitTimeColumn, "TIMESTAMP", "REQUIRED",
                                 "commit time of the source transaction"));
    // Each change is its own row, keyed by its position in the WAL and written as a CDC
    // UPSERT: a replay after a crash (same commit LSN and ordinal) overwrites the row it
    // already wrote instead of appending a duplicate (docs/OPERATIONS.md, "Replays").
    if (options.changelog_upsert) d->key_columns.push_back(std::string(kChangeLogLsnColumn));
  }
  if (d->mode == WriteMode::kCdc || options.changelog_upsert) {
    d->change_type_field = number++;
    d->change_sequence_field = number++;
    AddField(&msg, "_CHANGE_TYPE", d->change_type_field, FieldDescriptorProto::TYPE_STRING, false);
    AddField(&msg, "_CHANGE_SEQUENCE_NUMBER", d->change_sequence_field,
             FieldDescriptorProto::TYPE_STRING, false);
  }
  d->schema = {{"fields", std::move(fields)}};
  return std::shared_ptr<const TableDescriptor>(std::move(d));
}

Result<std::shared_ptr<const TableDescriptor>> DescriptorRegistry::Update(
    const SourceRelation& relation) {
  auto it = entries_.find(relation.oid);
  if (it != entries_.end() && it->second.relation == relation) return it->second.descriptor;
  const std::uint32_t version = it == entries_.end() ? 1 : it->second.descriptor->version + 1;
  PG2BQ_ASSIGN_OR_RETURN(auto d, BuildTableDescriptor(relation, options_, version));
  entries_[relation.oid] = Entry{relation, d};
  return d;
}

std::shared_ptr<const TableDescriptor> DescriptorRegistry::Find(std::uint32_t relation_oid) const {
  auto it = entries_.find(relation_oid);
  return it == entries_.end() ? nullptr : it->second.descriptor;
}

}  // namespace pg2bq::sink
