#include "sink/table_manager.h"

#include <httplib.h>

#include <algorithm>
#include <cctype>

#include "sink/column_names.h"

namespace pg2bq::sink {
namespace {

std::string Upper(std::string s) {
  for (char& c : s)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// BigQuery reports legacy names in some responses (INTEGER, FLOAT, BOOLEAN, RECORD).
std::string CanonicalType(std::string t) {
  t = Upper(std::move(t));
  if (t == "INTEGER") return "INT64";
  if (t == "FLOAT") return "FLOAT64";
  if (t == "BOOLEAN") return "BOOL";
  return t;
}

bool Clusterable(const std::string& type) {
  static const char* kTypes[] = {"INT64", "STRING",  "DATE",       "TIMESTAMP",
                                 "BOOL",  "NUMERIC", "BIGNUMERIC", "DATETIME"};
  for (auto* t : kTypes)
    if (type == t) return true;
  return false;
}

}  // namespace

Result<std::vector<nlohmann::json>> ColumnsToAdd(const nlohmann::json& existing,
                                                 const nlohmann::json& wanted) {
  std::vector<nlohmann::json> add;
  const auto& have = existing.contains("fields") ? existing["fields"] : nlohmann::json::array();
  for (const auto& w : wanted.value("fields", nlohmann::json::array())) {
    const std::string name = w.value("name", "");
    const nlohmann::json* found = nullptr;
    for (const auto& h : have) {
      if (Upper(h.value("name", "")) == Upper(name)) {
        found = &h;
        break;
      }
    }
    if (!found) {
      nlohmann::json f = w;
      // New columns must be NULLABLE or REPEATED: a REQUIRED column cannot be added.
      if (f.value("mode", "NULLABLE") == "REQUIRED") f["mode"] = "NULLABLE";
      add.push_back(std::move(f));
      continue;
    }
    const std::string ht = CanonicalType(found->value("type", "")),
                      wt = CanonicalType(w.value("type", ""));
    const std::string hm = found->value("mode", "NULLABLE"), wm = w.value("mode", "NULLABLE");
    if (ht != wt) {
      return Status::FailedPrecondition(
          "column " + name + " is " + ht + " in BigQuery but the source now maps it to " + wt +
          "; BigQuery cannot change a column's type in place. Recreate the table (and re-snapshot) "
          "or map the column to a new name");
    }
    if ((hm == "REPEATED") != (wm == "REPEATED")) {
      return Status::FailedPrecondition("column " + name + " changes between REPEATED and " +
                                        "non-REPEATED (" + hm + " -> " + wm +
                                        "), which BigQuery cannot do");
    }
  }
  return add;
}

std::string TableManager::TableIdFor(const TableDescriptor& d) {
  if (!d.bq_table.empty()) return d.bq_table;
  return TargetTableId(kDefaultTableNameTemplate, d.pg_schema, d.pg_table);
}

std::string TableManager::TablePath(const std::string& table_id) const {
  return "projects/" + options_.project + "/datasets/" + options_.dataset + "/tables/" + table_id;
}

Status TableManager::HttpError(const std::string& what, const Response& r) {
  std::string msg = what + ": HTTP " + std::to_string(r.status);
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (!j.is_discarded() && j.contains("error") && j["error"].is_object()) {
    msg += ": " + j["error"].value("message", "");
  } else {
    msg += ": " + r.body.substr(0, 300);
  }
  if (r.status == 404) return Status::NotFound(msg);
  if (r.status == 401 || r.status == 403) return Status::PermissionDenied(msg);
  if (r.status == 409) return Status::FailedPrecondition(msg);
  if (r.status == 429 || r.status >= 500) return Status::Unavailable(msg);
  return Status::InvalidArgument(msg);
}

Result<TableManager::Response> TableManager::Call(const std::string& method,
                                                  const std::string& path,
                                                  const nlohmann::json* body) {
  httplib::Client client(options_.base_url);
  client.set_connection_timeout(options_.timeout);
  client.set_read_timeout(options_.timeout);
  client.set_write_timeout(options_.timeout);
  httplib::Headers headers;
  if (options_.tokens) {
    PG2BQ_ASSIGN_OR_RETURN(std::string token, options_.tokens->AccessToken());
    headers.emplace("Authorization", "Bearer " + token);
  }
  const std::string payload = body ? body->dump() : std::string();
  httplib::Result res = method == "GET" ? client.Get(path, headers)
                        : method == "POST"
                            ? client.Post(path, headers, payload, "application/json")
                            : client.Patch(path, headers, payload, "application/json");
  if (!res) {
    return Status::Unavailable("BigQuery REST " + method + " " + options_.base_url + path + ": " +
                               httplib::to_string(res.error()));
  }
  return Response{res->status, res->body};
}

Status TableManager::EnsureDataset(TableSync* sync) {
  const std::string base = "/bigquery/v2/projects/" + options_.project + "/datasets";
  PG2BQ_ASSIGN_OR_RETURN(Response r, Call("GET", base + "/" + options_.dataset, nullptr));
  if (r.status == 200) return Status::Ok();
  if (r.status != 404) return HttpError("get dataset " + options_.dataset, r);
  nlohmann::json body = {
      {"datasetReference", {{"projectId", options_.project}, {"datasetId", options_.dataset}}}};
  if (!options_.location.empty()) body["location"] = options_.location;
  PG2BQ_ASSIGN_OR_RETURN(Response c, Call("POST", base, &body));
  if (c.status == 200 || c.status == 409) {  // 409: created meanwhile by someone else
    sync->created_dataset = c.status == 200;
    return Status::Ok();
  }
  return HttpError("create dataset " + options_.dataset, c);
}

Status TableManager::CheckDataset() {
  PG2BQ_ASSIGN_OR_RETURN(
      Response r,
      Call("GET", "/bigquery/v2/projects/" + options_.project + "/datasets/" + options_.dataset,
           nullptr));
  if (r.status == 200 || r.status == 404) return Status::Ok();  // 404: created with a table
  return HttpError("get dataset " + options_.project + "." + options_.dataset, r);
}

Result<nlohmann::json> TableManager::GetTable(const std::string& table_id) {
  PG2BQ_ASSIGN_OR_RETURN(Response r,
                         Call("GET",
                              "/bigquery/v2/projects/" + options_.project + "/datasets/" +
                                  options_.dataset + "/tables/" + table_id,
                              nullptr));
  if (r.status != 200) return HttpError("get table " + table_id, r);
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_discarded())
    return Status::Corruption("get table " + table_id + ": response is not JSON");
  return j;
}

Result<TableSync> TableManager::EnsureTable(const TableDescriptor& d) {
  TableSync sync;
  const std::string table_id = TableIdFor(d);
  const std::string tables =
      "/bigquery/v2/projects/" + options_.project + "/datasets/" + options_.dataset + "/tables";
  auto existing = GetTable(table_id);
  if (!existing.ok() && existing.status().code() == Status::Code::kNotFound) {
    PG2BQ_RETURN_IF_ERROR(EnsureDataset(&sync));
    nlohmann::json body = {
        {"tableReference",
         {{"projectId", options_.project}, {"datasetId", options_.dataset}, {"tableId", table_id}}},
        {"schema", d.schema},
        {"description", "pg2bq replica of PostgreSQL table " + d.pg_schema + "." + d.pg_table +
                            (d.mode == WriteMode::kChangeLog ? " (change log)" : "")}};
    if (!d.key_columns.empty()) {
      body["tableConstraints"] = {{"primaryKey", {{"columns", d.key_columns}}}};
      // Clustering on the key (at most 4 columns, clusterable types) keeps CDC merges cheap.
      std::vector<std::string> cluster;
      for (const auto& f : d.schema["fields"]) {
        const std::string name = f["name"];
        if (cluster.size() < 4 &&
            std::find(d.key_columns.begin(), d.key_columns.end(), name) != d.key_columns.end() &&
            Clusterable(f["type"]))
          cluster.push_back(name);
      }
      if (!cluster.empty()) body["clustering"] = {{"fields", cluster}};
      if (!options_.max_staleness.empty()) body["maxStaleness"] = options_.max_staleness;
    }
    PG2BQ_ASSIGN_OR_RETURN(Response c, Call("POST", tables, &body));
    if (c.status == 200) {
      sync.created_table = true;
      return sync;
    }
    if (c.status != 409) return HttpError("create table " + table_id, c);
    existing = GetTable(table_id);  // created concurrently: fall through to the comparison
  }
  if (!existing.ok()) return existing.status();
  const nlohmann::json& table = *existing;
  // A CDC table's primary key must be exactly ours (change logs: _pg2bq_lsn).
  if (!d.key_columns.empty()) {
    std::vector<std::string> pk;
    if (table.contains("tableConstraints") && table["tableConstraints"].contains("primaryKey")) {
      for (const auto& c :
           table["tableConstraints"]["primaryKey"].value("columns", nlohmann::json::array()))
        pk.push_back(c.get<std::string>());
    }
    if (pk != d.key_columns) {
      std::string want, have;
      for (const auto& k : d.key_columns)
        want += (want.empty() ? "" : ",") + k;
      for (const auto& k : pk)
        have += (have.empty() ? "" : ",") + k;
      return Status::FailedPrecondition(
          "table " + table_id + " has primary key (" + have + ") but the source key is (" + want +
          "); CDC needs them equal. Recreate the table" +
          (d.mode == WriteMode::kChangeLog
               ? " (change-log tables are keyed by " + std::string(kChangeLogLsnColumn) +
                     " so that replays do not "
                     "duplicate rows)"
               : std::string()));
    }
  }
  auto add = ColumnsToAdd(table.value("schema", nlohmann::json::object()), d.schema);
  if (!add.ok()) return add.status().WithContext("table " + table_id);
  if (add->empty()) return sync;
  nlohmann::json schema = table.value("schema", nlohmann::json::object());
  if (!schema.contains("fields")) schema["fields"] = nlohmann::json::array();
  for (auto& f : *add) {
    sync.added_columns.push_back(f["name"]);
    schema["fields"].push_back(f);
  }
  nlohmann::json patch = {{"schema", schema}};
  PG2BQ_ASSIGN_OR_RETURN(Response p, Call("PATCH", tables + "/" + table_id, &patch));
  if (p.status != 200) return HttpError("add columns to table " + table_id, p);
  return sync;
}

}  // namespace pg2bq::sink
