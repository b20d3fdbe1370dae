#include "tests/bq_emulator/table_schema.h"

#include <algorithm>
#include <cctype>
#include <set>

namespace pg2bq::bqemu {
namespace {

namespace storage = google::cloud::bigquery::storage::v1;

std::string Upper(std::string s) {
  for (char& c : s)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

Result<Column> ParseColumn(const nlohmann::json& field, const std::string& where) {
  if (!field.is_object() || !field.contains("name") || !field["name"].is_string()) {
    return Status::InvalidArgument(where + ": every schema field needs a string \"name\"");
  }
  Column c;
  c.name = field["name"].get<std::string>();
  if (c.name.empty()) return Status::InvalidArgument(where + ": empty field name");
  if (!field.contains("type") || !field["type"].is_string()) {
    return Status::InvalidArgument(where + ": field " + c.name + " has no type");
  }
  PG2BQ_ASSIGN_OR_RETURN(c.type, ParseColumnType(field["type"].get<std::string>()));
  std::string mode = Upper(field.value("mode", std::string("NULLABLE")));
  if (mode == "NULLABLE" || mode.empty()) {
    c.mode = ColumnMode::kNullable;
  } else if (mode == "REQUIRED") {
    c.mode = ColumnMode::kRequired;
  } else if (mode == "REPEATED") {
    c.mode = ColumnMode::kRepeated;
  } else {
    return Status::InvalidArgument(where + ": field " + c.name + " has invalid mode " + mode);
  }
  if (c.type == ColumnType::kStruct) {
    if (!field.contains("fields") || !field["fields"].is_array() || field["fields"].empty()) {
      return Status::InvalidArgument(where + ": field " + c.name +
                                     " is type RECORD and has no sub-fields");
    }
    std::set<std::string> seen;
    for (const auto& sub : field["fields"]) {
      PG2BQ_ASSIGN_OR_RETURN(Column s, ParseColumn(sub, where + "." + c.name));
      if (!seen.insert(Upper(s.name)).second) {
        return Status::InvalidArgument(where + ": duplicate field name " + s.name);
      }
      c.fields.push_back(std::move(s));
    }
  }
  return c;
}

storage::TableFieldSchema ToStorageField(const Column& c) {
  storage::TableFieldSchema f;
  f.set_name(c.name);
  using T = storage::TableFieldSchema;
  switch (c.type) {
    case ColumnType::kString:
      f.set_type(T::STRING);
      break;
    case ColumnType::kBytes:
      f.set_type(T::BYTES);
      break;
    case ColumnType::kInt64:
      f.set_type(T::INT64);
      break;
    case ColumnType::kFloat64:
      f.set_type(T::DOUBLE);
      break;
    case ColumnType::kBool:
      f.set_type(T::BOOL);
      break;
    case ColumnType::kTimestamp:
      f.set_type(T::TIMESTAMP);
      break;
    case ColumnType::kDate:
      f.set_type(T::DATE);
      break;
    case ColumnType::kTime:
      f.set_type(T::TIME);
      break;
    case ColumnType::kDatetime:
      f.set_type(T::DATETIME);
      break;
    case ColumnType::kNumeric:
      f.set_type(T::NUMERIC);
      break;
    case ColumnType::kBigNumeric:
      f.set_type(T::BIGNUMERIC);
      break;
    case ColumnType::kJson:
      f.set_type(T::JSON);
      break;
    case ColumnType::kGeography:
      f.set_type(T::GEOGRAPHY);
      break;
    case ColumnType::kInterval:
      f.set_type(T::INTERVAL);
      break;
    case ColumnType::kStruct:
      f.set_type(T::STRUCT);
      break;
  }
  switch (c.mode) {
    case ColumnMode::kNullable:
      f.set_mode(T::NULLABLE);
      break;
    case ColumnMode::kRequired:
      f.set_mode(T::REQUIRED);
      break;
    case ColumnMode::kRepeated:
      f.set_mode(T::REPEATED);
      break;
  }
  for (const auto& sub : c.fields)
    *f.add_fields() = ToStorageField(sub);
  return f;
}

}  // namespace

Result<ColumnType> ParseColumnType(const std::string& name) {
  std::string n = Upper(name);
  if (n == "STRING") return ColumnType::kString;
  if (n == "BYTES") return ColumnType::kBytes;
  if (n == "INTEGER" || n == "INT64") return ColumnType::kInt64;
  if (n == "FLOAT" || n == "FLOAT64") return ColumnType::kFloat64;
  if (n == "BOOLEAN" || n == "BOOL") return ColumnType::kBool;
  if (n == "TIMESTAMP") return ColumnType::kTimestamp;
  if (n == "DATE") return ColumnType::kDate;
  if (n == "TIME") return ColumnType::kTime;
  if (n == "DATETIME") return ColumnType::kDatetime;
  if (n == "NUMERIC") return ColumnType::kNumeric;
  if (n == "BIGNUMERIC") return ColumnType::kBigNumeric;
  if (n == "JSON") return ColumnType::kJson;
  if (n == "GEOGRAPHY") return ColumnType::kGeography;
  if (n == "INTERVAL") return ColumnType::kInterval;
  if (n == "RECORD" || n == "STRUCT") return ColumnType::kStruct;
  return Status::InvalidArgument("unsupported field type " + name);
}

std::string ColumnTypeRestName(ColumnType type) {
  switch (type) {
    case ColumnType::kString:
      return "STRING";
    case ColumnType::kBytes:
      return "BYTES";
    case ColumnType::kInt64:
      return "INTEGER";
    case ColumnType::kFloat64:
      return "FLOAT";
    case ColumnType::kBool:
      return "BOOLEAN";
    case ColumnType::kTimestamp:
      return "TIMESTAMP";
    case ColumnType::kDate:
      return "DATE";
    case ColumnType::kTime:
      return "TIME";
    case ColumnType::kDatetime:
      return "DATETIME";
    case ColumnType::kNumeric:
      return "NUMERIC";
    case ColumnType::kBigNumeric:
      return "BIGNUMERIC";
    case ColumnType::kJson:
      return "JSON";
    case ColumnType::kGeography:
      return "GEOGRAPHY";
    case ColumnType::kInterval:
      return "INTERVAL";
    case ColumnType::kStruct:
      return "RECORD";
  }
  return "STRING";
}

std::string ColumnTypeSqlName(ColumnType type) {
  switch (type) {
    case ColumnType::kInt64:
      return "INT64";
    case ColumnType::kFloat64:
      return "FLOAT64";
    case ColumnType::kBool:
      return "BOOL";
    case ColumnType::kStruct:
      return "STRUCT";
    default:
      return ColumnTypeRestName(type);
  }
}

std::string TableId::ResourceName() const {
  return "projects/" + project + "/datasets/" + dataset + "/tables/" + table;
}

Result<TableId> ParseTableResource(const std::string& name, std::string* stream) {
  // projects/P/datasets/D/tables/T[/streams/S]
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t slash = name.find('/', start);
    parts.push_back(name.substr(start, slash == std::string::npos ? slash : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  bool table_form = parts.size() == 6 || (parts.size() == 8 && parts[6] == "streams");
  if (!table_form || parts[0] != "projects" || parts[2] != "datasets" || parts[4] != "tables" ||
      parts[1].empty() || parts[3].empty() || parts[5].empty() ||
      (parts.size() == 8 && parts[7].empty())) {
    return Status::InvalidArgument("invalid resource name '" + name +
                                   "': expected projects/P/datasets/D/tables/T" +
                                   (stream ? "[/streams/S]" : ""));
  }
  if (parts.size() == 8) {
    if (!stream) return Status::InvalidArgument("unexpected stream in resource name " + name);
    *stream = parts[7];
  } else if (stream) {
    stream->clear();
  }
  return TableId{parts[1], parts[3], parts[5]};
}

Result<TableId> ParseDottedTable(const std::string& text) {
  std::string s = text;
  size_t colon = s.find(':');
  if (colon != std::string::npos) s[colon] = '.';
  size_t a = s.find('.');
  size_t b = a == std::string::npos ? a : s.find('.', a + 1);
  if (a == std::string::npos || b == std::string::npos || s.find('.', b + 1) != std::string::npos ||
      a == 0 || b == a + 1 || b + 1 == s.size()) {
    return Status::InvalidArgument("invalid table '" + text + "': expected PROJECT.DATASET.TABLE");
  }
  return TableId{s.substr(0, a), s.substr(a + 1, b - a - 1), s.substr(b + 1)};
}

const Column* TableSchema::Find(const std::string& name) const {
  std::string u = Upper(name);
  for (const auto& c : columns) {
    if (Upper(c.name) == u) return &c;
  }
  return nullptr;
}

Result<TableSchema> TableSchemaFromResource(const nlohmann::json& table) {
  TableSchema schema;
  if (table.contains("schema") && table["schema"].contains("fields")) {
    const auto& fields = table["schema"]["fields"];
    if (!fields.is_array()) return Status::InvalidArgument("schema.fields must be an array");
    std::set<std::string> seen;
    for (const auto& f : fields) {
      PG2BQ_ASSIGN_OR_RETURN(Column c, ParseColumn(f, "schema"));
      if (!seen.insert(Upper(c.name)).second) {
        return Status::InvalidArgument("Duplicate column names: '" + c.name + "'");
      }
      schema.columns.push_back(std::move(c));
    }
  }
  if (table.contains("tableConstraints") && table["tableConstraints"].contains("primaryKey")) {
    const auto& pk = table["tableConstraints"]["primaryKey"];
    if (!pk.contains("columns") || !pk["columns"].is_array() || pk["columns"].empty()) {
      return Status::InvalidArgument("tableConstraints.primaryKey needs a non-empty columns list");
    }
    if (pk["columns"].size() > 16) {
      return Status::InvalidArgument("A primary key can have at most 16 columns, got " +
                                     std::to_string(pk["columns"].size()));
    }
    std::set<std::string> seen;
    for (const auto& name : pk["columns"]) {
      if (!name.is_string()) return Status::InvalidArgument("primary key column names are strings");
      const Column* c = schema.Find(name.get<std::string>());
      if (!c) {
        return Status::InvalidArgument("Primary key column " + name.get<std::string>() +
                                       " is not in the table schema");
      }
      if (c->mode == ColumnMode::kRepeated || c->type == ColumnType::kStruct ||
          c->type == ColumnType::kJson || c->type == ColumnType::kGeography) {
        return Status::InvalidArgument("Primary key column " + c->name + " has type " +
                                       ColumnTypeSqlName(c->type) +
                                       (c->mode == ColumnMode::kRepeated ? " (REPEATED)" : "") +
                                       ", which cannot be part of a primary key");
      }
      if (!seen.insert(Upper(c->name)).second) {
        return Status::InvalidArgument("Primary key column " + c->name + " listed twice");
      }
      schema.primary_key.push_back(c->name);
    }
  }
  return schema;
}

nlohmann::json ColumnsToRest(const std::vector<Column>& columns) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& c : columns) {
    nlohmann::json f = {{"name", c.name}, {"type", ColumnTypeRestName(c.type)}};
    f["mode"] = c.mode == ColumnMode::kRequired   ? "REQUIRED"
                : c.mode == ColumnMode::kRepeated ? "REPEATED"
                                                  : "NULLABLE";
    if (!c.fields.empty()) f["fields"] = ColumnsToRest(c.fields);
    out.push_back(std::move(f));
  }
  return out;
}

storage::TableSchema ToStorageSchema(const TableSchema& schema) {
  storage::TableSchema out;
  for (const auto& c : schema.columns)
    *out.add_fields() = ToStorageField(c);
  return out;
}

}  // namespace pg2bq::bqemu
