#include "agent/pipeline/table_data.h"

#include <httplib.h>

#include <charconv>

#include "decoder/pg_text_format.h"
#include "decoder/pg_value.h"

namespace pg2bq::agent::pipeline {

using nlohmann::json;

namespace {

Result<json> Get(const sink::TableManagerOptions& o, const std::string& path) {
  httplib::Client client(o.base_url);
  client.set_connection_timeout(o.timeout);
  client.set_read_timeout(o.timeout);
  httplib::Headers headers;
  if (o.tokens) {
    PG2BQ_ASSIGN_OR_RETURN(std::string token, o.tokens->AccessToken());
    headers.emplace("Authorization", "Bearer " + token);
  }
  auto res = client.Get(path, headers);
  if (!res) {
    return Status::Unavailable("BigQuery REST GET " + o.base_url + path + ": " +
                               httplib::to_string(res.error()));
  }
  if (res->status == 404) return Status::NotFound("BigQuery: " + path + " not found");
  if (res->status != 200) {
    return Status::Unavailable("BigQuery REST GET " + path + ": HTTP " +
                               std::to_string(res->status) + ": " + res->body.substr(0, 300));
  }
  try {
    return json::parse(res->body);
  } catch (const std::exception& e) {
    return Status::Corruption("BigQuery REST GET " + path + ": " + e.what());
  }
}

}  // namespace

Status ListTableRows(const sink::TableManagerOptions& o, const std::string& table_id,
                     TableData* schema,
                     const std::function<Status(const std::vector<json>&)>& row) {
  const std::string base =
      "/bigquery/v2/projects/" + o.project + "/datasets/" + o.dataset + "/tables/" + table_id;
  PG2BQ_ASSIGN_OR_RETURN(json table, Get(o, base));
  schema->columns.clear();
  schema->types.clear();
  for (const auto& f : table["schema"]["fields"]) {
    schema->columns.push_back(f.value("name", ""));
    schema->types.push_back(f.value("type", ""));
  }
  std::string token;
  std::vector<json> values;
  for (;;) {
    std::string path = base + "/data?maxResults=10000&formatOptions.useInt64Timestamp=true";
    if (!token.empty()) path += "&pageToken=" + token;
    PG2BQ_ASSIGN_OR_RETURN(json page, Get(o, path));
    if (page.contains("rows")) {
      for (const auto& r : page["rows"]) {
        values.clear();
        for (const auto& cell : r["f"])
          values.push_back(cell.contains("v") ? cell["v"] : json());
        PG2BQ_RETURN_IF_ERROR(row(values));
      }
    }
    if (!page.contains("pageToken") || !page["pageToken"].is_string()) break;
    token = page["pageToken"].get<std::string>();
  }
  return Status::Ok();
}

Result<std::string> PgTextOfTableData(const std::string& value, const std::string& bq_type) {
  if (bq_type == "TIMESTAMP") {
    std::int64_t micros = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), micros);
    if (ec != std::errc() || end != value.data() + value.size())
      return Status::Corruption("TIMESTAMP '" + value +
                                "' from tabledata.list is not microseconds");
    std::string text;
    AppendPgTimestamp(micros - kPgEpochMicrosFromUnix, true, &text);
    return text;
  }
  if (bq_type != "DATETIME" && bq_type != "TIME") return value;
  std::string text = value;
  if (auto t = text.find('T'); t != std::string::npos) text[t] = ' ';
  if (text.find('.') != std::string::npos) {  // PostgreSQL prints no trailing fraction zeros
    while (text.back() == '0')
      text.pop_back();
    if (text.back() == '.') text.pop_back();
  }
  return text;
}

}  // namespace pg2bq::agent::pipeline
