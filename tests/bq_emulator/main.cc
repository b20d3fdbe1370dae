// bq-emulator: a local stand-in for BigQuery's Storage Write API (gRPC) and the
// REST v2 table calls, keeping state in SQLite. See docs/EMULATOR.md.
//
//   bq-emulator --data DIR [--grpc-port N] [--http-port M] [fault flags]
//   bq-emulator dump --data DIR --table PROJECT.DATASET.TABLE
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "tests/bq_emulator/fault_injector.h"
#include "tests/bq_emulator/rest_server.h"
#include "tests/bq_emulator/row_format.h"
#include "tests/bq_emulator/table_store.h"
#include "tests/bq_emulator/write_service.h"

namespace po = boost::program_options;
using namespace pg2bq;
using namespace pg2bq::bqemu;

namespace {

int Fail(const std::string& message) {
  std::cerr << "bq-emulator: " << message << "\n";
  return 1;
}

int Dump(int argc, char** argv) {
  po::options_description opts(
      "bq-emulator dump --data DIR --table PROJECT.DATASET.TABLE\n\n"
      "Prints a table as JSON lines sorted by primary key (without one: by all columns).\n"
      "Works whether or not an emulator is running on DIR. Options");
  opts.add_options()("help,h", "this help")("data", po::value<std::string>()->required(),
                                            "emulator data directory")(
      "table", po::value<std::string>()->required(), "PROJECT.DATASET.TABLE");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, opts), vm);
    if (vm.count("help")) {
      std::cout << opts << "\n";
      return 0;
    }
    po::notify(vm);
  } catch (const std::exception& e) {
    return Fail(std::string("dump: ") + e.what() + " (see bq-emulator dump --help)");
  }
  auto id = ParseDottedTable(vm["table"].as<std::string>());
  if (!id.ok()) return Fail(id.status().message());
  TableStore::Options options;
  options.read_only = true;
  auto store = TableStore::Open(vm["data"].as<std::string>(), options);
  if (!store.ok()) return Fail(store.status().ToString());
  auto table = (*store)->GetTable(*id);
  if (!table.ok()) return Fail(table.status().message());
  auto rows = (*store)->ListRows(table->id, 0, INT64_MAX);
  if (!rows.ok()) return Fail(rows.status().ToString());
  SortRowsByKey(table->schema, &*rows);
  for (const auto& row : *rows)
    std::cout << ToDumpLine(table->schema.columns, row) << "\n";
  std::cout.flush();
  return std::cout.good() ? 0 : Fail("dump: cannot write to stdout");
}

int Serve(int argc, char** argv) {
  po::options_description opts(
      "bq-emulator --data DIR [--grpc-port N] [--http-port M] [options]\n\n"
      "A local BigQuery: Storage Write API (google.cloud.bigquery.storage.v1.BigQueryWrite)\n"
      "over gRPC and the REST v2 dataset/table/tabledata calls over HTTP, with state in\n"
      "DIR/bq-emulator.sqlite. Prints `grpc=127.0.0.1:P http=127.0.0.1:Q` as its first\n"
      "line on stdout once both servers listen; SIGTERM or SIGINT stops it.\n"
      "Also: `bq-emulator dump --help`.\n\nOptions");
  std::vector<std::string> error_rates;
  opts.add_options()("help,h", "this help")("data", po::value<std::string>()->required(),
                                            "data directory (created if missing)")(
      "host", po::value<std::string>()->default_value("127.0.0.1"), "address to listen on")(
      "grpc-port", po::value<int>()->default_value(0), "gRPC port; 0 picks a free port")(
      "http-port", po::value<int>()->default_value(0),
      "HTTP port (REST v2 + /admin); 0 picks a free port")(
      "no-storage", po::bool_switch(),
      "validate and acknowledge appends but keep no rows (benchmarks)")(
      "keep-tombstones", po::bool_switch(),
      "remember deleted CDC keys forever, so an older UPSERT never resurrects a row "
      "(BigQuery forgets them; agent tests run without this)")(
      "outage", po::bool_switch(), "start with the outage switch on: every call UNAVAILABLE")(
      "error-rate", po::value<std::vector<std::string>>(&error_rates)->composing(),
      "RPC:CODE:RATE, repeatable; fail that share of calls of RPC (CreateWriteStream, "
      "AppendRows (per request), GetWriteStream, FinalizeWriteStream, "
      "BatchCommitWriteStreams, FlushRows or *) with CODE (UNAVAILABLE, RESOURCE_EXHAUSTED, "
      "INTERNAL, ABORTED, DEADLINE_EXCEEDED, UNKNOWN); RATE in [0,1]")(
      "latency-ms", po::value<int>()->default_value(0),
      "added latency per call and per AppendRows request")(
      "drop-stream-after", po::value<int>()->default_value(0),
      "cut every AppendRows connection (UNAVAILABLE) when request N+1 arrives; 0 = never")(
      "max-recv-mb", po::value<int>()->default_value(32),
      "gRPC transport limit in MiB (above BigQuery's 10 MB request limit, which is "
      "enforced separately with INVALID_ARGUMENT)");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, opts), vm);
    if (vm.count("help")) {
      std::cout << opts << "\n"
                << "Admin endpoints on the HTTP port:\n"
                << "  GET  /admin/faults        current fault settings (JSON)\n"
                << "  PUT  /admin/faults        change them, e.g. {\"outage\":true}, "
                   "{\"latency_ms\":50},\n"
                << "                            {\"drop_stream_after\":3}, "
                   "{\"error_rates\":{\"AppendRows\":{\"UNAVAILABLE\":0.1}}}\n"
                << "  POST /admin/faults/reset  all faults off\n"
                << "  GET  /admin/stats         rows and requests appended since start\n"
                << "  GET  /healthz             liveness\n";
      return 0;
    }
    po::notify(vm);
  } catch (const std::exception& e) {
    return Fail(std::string(e.what()) + " (see bq-emulator --help)");
  }

  FaultInjector faults;
  faults.SetOutage(vm["outage"].as<bool>());
  if (vm["latency-ms"].as<int>() < 0 || vm["drop-stream-after"].as<int>() < 0) {
    return Fail("--latency-ms and --drop-stream-after must be >= 0");
  }
  faults.SetLatencyMs(vm["latency-ms"].as<int>());
  faults.SetDropStreamAfter(vm["drop-stream-after"].as<int>());
  for (const auto& spec : error_rates) {
    Status st = faults.AddErrorRate(spec);
    if (!st.ok()) return Fail(st.message());
  }

  TableStore::Options store_options;
  store_options.keep_tombstones = vm["keep-tombstones"].as<bool>();
  auto store = TableStore::Open(vm["data"].as<std::string>(), store_options);
  if (!store.ok()) return Fail(store.status().ToString());

  // Block the stop signals in every thread; main waits for them below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  WriteService::Options write_options;
  write_options.store_rows = !vm["no-storage"].as<bool>();
  WriteService service(store->get(), &faults, write_options);
  const std::string host = vm["host"].as<std::string>();
  int grpc_port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(host + ":" + std::to_string(vm["grpc-port"].as<int>()),
                           grpc::InsecureServerCredentials(), &grpc_port);
  builder.SetMaxReceiveMessageSize(vm["max-recv-mb"].as<int>() << 20);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || grpc_port == 0) {
    return Fail("cannot listen on " + host + ":" + std::to_string(vm["grpc-port"].as<int>()) +
                " for gRPC (port in use?)");
  }
  RestServer rest(store->get(), &faults, &service);
  auto http_port = rest.Start(host, vm["http-port"].as<int>());
  if (!http_port.ok()) {
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    return Fail(http_port.status().message());
  }
  std::printf("grpc=%s:%d http=%s:%d\n", host.c_str(), grpc_port, host.c_str(), *http_port);
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::fprintf(stderr, "bq-emulator: signal %d, shutting down\n", sig);
  rest.Stop();
  // In-flight AppendRows calls get 2 s to finish, then are cancelled.
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::string(argv[1]) == "dump") return Dump(argc - 1, argv + 1);
  return Serve(argc, argv);
}
