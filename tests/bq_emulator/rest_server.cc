#include "tests/bq_emulator/rest_server.h"

#include <nlohmann/json.hpp>

#include "tests/bq_emulator/row_format.h"

namespace pg2bq::bqemu {
namespace {

using nlohmann::json;

constexpr const char* kPrefix = "/bigquery/v2/projects/([^/]+)/datasets";

// Google's JSON error body: {"error": {code, message, status, errors[]}}.
void SendError(httplib::Response& res, int http, const std::string& status,
               const std::string& reason, const std::string& message) {
  json body = {
      {"error",
       {{"code", http},
        {"message", message},
        {"status", status},
        {"errors",
         json::array({{{"message", message}, {"domain", "global"}, {"reason", reason}}})}}}};
  res.status = http;
  res.set_content(body.dump(), "application/json; charset=UTF-8");
}

void SendStatus(httplib::Response& res, const Status& st) {
  switch (st.code()) {
    case Status::Code::kNotFound:
      return SendError(res, 404, "NOT_FOUND", "notFound", st.message());
    case Status::Code::kFailedPrecondition:
      return SendError(res, 409, "ALREADY_EXISTS", "duplicate", st.message());
    case Status::Code::kInvalidArgument:
      return SendError(res, 400, "INVALID_ARGUMENT", "invalid", st.message());
    default:
      return SendError(res, 500, "INTERNAL", "backendError", st.ToString());
  }
}

void SendJson(httplib::Response& res, const json& body) {
  res.status = 200;
  res.set_content(body.dump(), "application/json; charset=UTF-8");
}

Result<json> ParseBody(const httplib::Request& req) {
  json body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) {
    return Status::InvalidArgument("Invalid JSON payload received: the body is not a JSON object");
  }
  return body;
}

bool ValidId(const std::string& id) {
  if (id.empty() || id.size() > 1024) return false;
  for (char c : id) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '$')) {
      return false;
    }
  }
  return true;
}

}  // namespace

RestServer::RestServer(TableStore* store, FaultInjector* faults, const WriteService* writes)
    : store_(store), faults_(faults), writes_(writes) {
  Routes();
}

RestServer::~RestServer() {
  Stop();
}

Result<int> RestServer::Start(const std::string& host, int port) {
  int bound =
      port == 0 ? server_.bind_to_any_port(host) : (server_.bind_to_port(host, port) ? port : -1);
  if (bound < 0) {
    return Status::Unavailable("cannot listen on " + host + ":" + std::to_string(port) +
                               " for HTTP (port in use?)");
  }
  thread_ = std::thread([this] { server_.listen_after_bind(); });
  return bound;
}

void RestServer::Stop() {
  server_.stop();
  if (thread_.joinable()) thread_.join();
}

void RestServer::Routes() {
  server_.set_read_timeout(30, 0);
  server_.set_write_timeout(30, 0);
  server_.set_payload_max_length(64 << 20);
  // The outage switch takes the REST API down too (not the admin endpoints).
  server_.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (req.path.rfind("/bigquery/", 0) == 0 && faults_->outage()) {
      SendError(res, 503, "UNAVAILABLE", "backendError",
                "The service is currently unavailable (bq-emulator outage switch is on)");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  server_.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown error";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        SendError(res, 400, "INVALID_ARGUMENT", "invalid", "Invalid request: " + what);
      });

  const std::string datasets = kPrefix;
  const std::string dataset = datasets + "/([^/]+)";
  const std::string tables = dataset + "/tables";
  const std::string table = tables + "/([^/]+)";

  server_.Get(dataset, [this](const httplib::Request& req, httplib::Response& res) {
    auto ds = store_->GetDataset(req.matches[1], req.matches[2]);
    if (!ds.ok()) return SendStatus(res, ds.status());
    SendJson(res, *ds);
  });
  server_.Post(datasets, [this](const httplib::Request& req, httplib::Response& res) {
    auto body = ParseBody(req);
    if (!body.ok()) return SendStatus(res, body.status());
    std::string project = req.matches[1];
    if (!body->contains("datasetReference") ||
        !(*body)["datasetReference"].value("datasetId", json()).is_string()) {
      return SendError(res, 400, "INVALID_ARGUMENT", "invalid",
                       "Missing required field: datasetReference.datasetId");
    }
    std::string id = (*body)["datasetReference"]["datasetId"].get<std::string>();
    if (!ValidId(id)) {
      return SendError(res, 400, "INVALID_ARGUMENT", "invalid",
                       "Invalid dataset ID \"" + id + "\"");
    }
    auto ds = store_->InsertDataset(project, std::move(*body));
    if (!ds.ok()) return SendStatus(res, ds.status());
    SendJson(res, *ds);
  });

  server_.Get(table, [this](const httplib::Request& req, httplib::Response& res) {
    auto t = store_->GetTable({req.matches[1], req.matches[2], req.matches[3]});
    if (!t.ok()) return SendStatus(res, t.status());
    json out = t->resource;
    auto rows = store_->CountRows(t->id);
    if (rows.ok()) out["numRows"] = std::to_string(*rows);
    SendJson(res, out);
  });
  server_.Post(tables, [this](const httplib::Request& req, httplib::Response& res) {
    auto body = ParseBody(req);
    if (!body.ok()) return SendStatus(res, body.status());
    if (!body->contains("tableReference") ||
        !(*body)["tableReference"].value("tableId", json()).is_string()) {
      return SendError(res, 400, "INVALID_ARGUMENT", "invalid",
                       "Missing required field: tableReference.tableId");
    }
    std::string id = (*body)["tableReference"]["tableId"].get<std::string>();
    if (!ValidId(id)) {
      return SendError(res, 400, "INVALID_ARGUMENT", "invalid", "Invalid table ID \"" + id + "\"");
    }
    auto t = store_->InsertTable({req.matches[1], req.matches[2], id}, std::move(*body));
    if (!t.ok()) return SendStatus(res, t.status());
    SendJson(res, t->resource);
  });
  auto update = [this](bool replace) {
    return [this, replace](const httplib::Request& req, httplib::Response& res) {
      auto body = ParseBody(req);
      if (!body.ok()) return SendStatus(res, body.status());
      auto t =
          store_->UpdateTable({req.matches[1], req.matches[2], req.matches[3]}, *body, replace);
      if (!t.ok()) return SendStatus(res, t.status());
      SendJson(res, t->resource);
    };
  };
  server_.Patch(table, update(false));
  server_.Put(table, update(true));
  server_.Delete(table, [this](const httplib::Request& req, httplib::Response& res) {
    Status st = store_->DeleteTable({req.matches[1], req.matches[2], req.matches[3]});
    if (!st.ok()) return SendStatus(res, st);
    res.status = 204;
  });

  server_.Get(table + "/data", [this](const httplib::Request& req, httplib::Response& res) {
    auto t = store_->GetTable({req.matches[1], req.matches[2], req.matches[3]});
    if (!t.ok()) return SendStatus(res, t.status());
    int64_t start = 0, max_results = 10000;
    try {
      if (req.has_param("startIndex")) start = std::stoll(req.get_param_value("startIndex"));
      if (req.has_param("pageToken")) start = std::stoll(req.get_param_value("pageToken"));
      if (req.has_param("maxResults")) max_results = std::stoll(req.get_param_value("maxResults"));
    } catch (const std::exception&) {
      return SendError(res, 400, "INVALID_ARGUMENT", "invalid",
                       "startIndex, pageToken and maxResults must be integers");
    }
    if (start < 0 || max_results <= 0) {
      return SendError(res, 400, "INVALID_ARGUMENT", "invalid",
                       "startIndex must be >= 0 and maxResults > 0");
    }
    bool int64_ts = req.get_param_value("formatOptions.useInt64Timestamp") == "true";
    auto total = store_->CountRows(t->id);
    if (!total.ok()) return SendStatus(res, total.status());
    auto rows = store_->ListRows(t->id, start, max_results);
    if (!rows.ok()) return SendStatus(res, rows.status());
    json out = {{"kind", "bigquery#tableDataList"},
                {"etag", t->resource.value("etag", "")},
                {"totalRows", std::to_string(*total)},
                {"rows", json::array()}};
    for (const auto& row : *rows) {
      out["rows"].push_back(ToTableDataRow(t->schema.columns, row, int64_ts));
    }
    if (start + static_cast<int64_t>(rows->size()) < *total) {
      out["pageToken"] = std::to_string(start + static_cast<int64_t>(rows->size()));
    }
    SendJson(res, out);
  });

  // Admin: fault injection and counters.
  server_.Get("/admin/faults", [this](const httplib::Request&, httplib::Response& res) {
    SendJson(res, faults_->ToJson());
  });
  auto set_faults = [this](const httplib::Request& req, httplib::Response& res) {
    auto body = ParseBody(req);
    if (!body.ok()) return SendStatus(res, body.status());
    Status st = faults_->Apply(*body);
    if (!st.ok()) return SendStatus(res, st);
    SendJson(res, faults_->ToJson());
  };
  server_.Put("/admin/faults", set_faults);
  server_.Post("/admin/faults", set_faults);
  server_.Post("/admin/faults/reset", [this](const httplib::Request&, httplib::Response& res) {
    faults_->Reset();
    SendJson(res, faults_->ToJson());
  });
  server_.Get("/admin/stats", [this](const httplib::Request&, httplib::Response& res) {
    SendJson(res, {{"rows_appended", writes_->rows_appended()},
                   {"append_requests", writes_->requests_appended()}});
  });
  server_.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
}

}  // namespace pg2bq::bqemu
