// The BigQuery REST v2 calls pg2bq needs (datasets get/insert, tables
// get/insert/patch/update/delete, tabledata.list) plus the emulator's admin
// endpoints (/admin/faults, /admin/stats, /healthz), on cpp-httplib.
#pragma once

#include <httplib.h>

#include <memory>
#include <string>
#include <thread>

#include "common/status.h"
#include "tests/bq_emulator/fault_injector.h"
#include "tests/bq_emulator/table_store.h"
#include "tests/bq_emulator/write_service.h"

namespace pg2bq::bqemu {

class RestServer {
 public:
  RestServer(TableStore* store, FaultInjector* faults, const WriteService* writes);
  ~RestServer();
  RestServer(const RestServer&) = delete;
  RestServer& operator=(const RestServer&) = delete;

  // Binds host:port (0 = a free port) and serves on a background thread.
  Result<int> Start(const std::string& host, int port);
  void Stop();

 private:
  void Routes();

  TableStore* store_;
  FaultInjector* faults_;
  const WriteService* writes_;
  httplib::Server server_;
  std::thread thread_;
};

}  // namespace pg2bq::bqemu
