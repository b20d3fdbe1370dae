// `pg2bq run --config FILE`: the always-on agent. Threads: the capture reader (slot ->
// decoder -> row encoder -> spool), the flusher's dispatcher and per-table workers
// (spool -> BigQuery, checkpoints), the metrics/health HTTP endpoint and the signal
// watcher. SIGTERM/SIGINT: stop reading, make the spool durable, confirm it to
// PostgreSQL, flush what BigQuery accepts within runtime.shutdown_timeout, checkpoint,
// exit 0. docs/OPERATIONS.md describes operating it.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "agent/cancellation.h"
#include "agent/config.h"
#include "agent/http_endpoint.h"
#include "agent/logging.h"
#include "agent/metrics.h"
#include "agent/pipeline/capture.h"
#include "agent/pipeline/descriptor_store.h"
#include "agent/pipeline/flusher.h"
#include "agent/pipeline/pipeline_metrics.h"
#include "agent/pipeline/target_setup.h"
#include "agent/signals.h"
#include "agent/snapshot/sync_state.h"
#include "agent/snapshot/table_sync.h"
#include "spool/spool_writer.h"

namespace pg2bq::agent {

namespace {

void PrintRunUsage(std::FILE* out) {
  std::fprintf(out,
               "usage: pg2bq run --config FILE [--section.key=VALUE ...]\n\n"
               "Replicates the published tables into BigQuery until SIGTERM/SIGINT.\n"
               "Settings: docs/CONFIG.md (`pg2bq config check` validates them).\n"
               "Exit status: 0 after a clean stop, 1 on a fatal error.\n");
}

spool::FsyncPolicy ToPolicy(FsyncMode m) {
  switch (m) {
    case FsyncMode::kAlways:
      return spool::FsyncPolicy::kAlways;
    case FsyncMode::kOff:
      return spool::FsyncPolicy::kOff;
    case FsyncMode::kBatch:
      break;
  }
  return spool::FsyncPolicy::kBatch;
}

// Encoded bytes per spool append: flush.batch_max_bytes, but at most a quarter of the spool
// budget. An append that could not fit even in an otherwise empty spool would wait for
// space forever (the budget counts compressed bytes, and a group compresses to at most
// its raw size; one sealed segment plus the open one stay below half the budget).
std::size_t SpoolGroupBytes(const AgentConfig& c) {
  std::size_t bytes = c.flush.batch_max_bytes;
  if (c.spool.budget_bytes > 0) bytes = std::min<std::size_t>(bytes, c.spool.budget_bytes / 4);
  return std::max<std::size_t>(bytes, 1);
}

// SIGHUP: reads the configuration again from the same file, environment and flags. The
// reloadable keys (docs/CONFIG.md) take effect at once; a change to any other key is named
// and waits for a restart; a configuration with problems is refused as a whole.
void Reload(const std::vector<std::string>& args, AgentConfig* live, pipeline::Capture* capture) {
  ConfigInputs inputs;
  inputs.args = args;
  inputs.env = ProcessEnvironment();
  ConfigLoadResult loaded = LoadAgentConfig(inputs);
  for (const std::string& w : loaded.warnings)
    spdlog::warn("reload: {}", w);
  if (!loaded.ok()) {
    for (const std::string& p : loaded.problems)
      spdlog::error("reload: {}", p);
    spdlog::error("reload: the configuration has {} problem(s); keeping the running one",
                  loaded.problems.size());
    return;
  }
  const AgentConfig* fresh = &loaded.config;
  for (const auto& key : NonReloadableChanges(*live, *fresh))
    spdlog::warn("reload: {} changed; it takes effect at the next restart", key);
  InstallLogging(fresh->runtime.log_format, fresh->runtime.log_level);
  live->runtime.log_format = fresh->runtime.log_format;
  live->runtime.log_level = fresh->runtime.log_level;
  live->runtime.shutdown_timeout = fresh->runtime.shutdown_timeout;
  live->flush.batch_max_bytes = fresh->flush.batch_max_bytes;
  live->flush.batch_max_rows = fresh->flush.batch_max_rows;
  live->flush.batch_max_latency = fresh->flush.batch_max_latency;
  live->replication.heartbeat_interval = fresh->replication.heartbeat_interval;
  for (const char* key :
       {"agent.log_format", "agent.log_level", "agent.shutdown_timeout", "flush.batch_max_bytes",
        "flush.batch_max_rows", "flush.batch_max_latency", "replication.heartbeat_interval"}) {
    if (auto it = fresh->settings.find(key); it != fresh->settings.end())
      live->settings[key] = it->second;
  }
  capture->SetReloadable(SpoolGroupBytes(*live), live->flush.batch_max_rows,
                         live->replication.heartbeat_interval);
  spdlog::info(
      "reload: applied (heartbeat_interval {} ms, batch_max_rows {}, batch_max_bytes "
      "{}, shutdown_timeout {} ms)",
      live->replication.heartbeat_interval.count(), live->flush.batch_max_rows,
      live->flush.batch_max_bytes, live->runtime.shutdown_timeout.count());
}

int Fatal(const std::string& what, const Status& s) {
  spdlog::error("{}: {}", what, s.ToString());
  std::fprintf(stderr, "pg2bq run: %s: %s\n", what.c_str(), s.ToString().c_str());
  return 1;
}

}  // namespace

int RunRunCommand(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") {
      PrintRunUsage(stdout);
      return 0;
    }
  }
  auto config = pipeline::LoadConfigForCommand(args, "run");
  if (!config) return 1;
  InstallLogging(config->runtime.log_format, config->runtime.log_level);

  Cancellation shutdown;
  auto signals = SignalWatcher::Start(
      &shutdown, {[](int signo) { spdlog::info("signal {}: stopping", signo); }, nullptr, 1});
  if (!signals.ok()) return Fatal("signals", signals.status());

  std::error_code ec;
  std::filesystem::create_directories(config->runtime.state_dir, ec);
  if (ec) {
    return Fatal("state dir " + config->runtime.state_dir, Status::IoError(ec.message()));
  }

  spool::SpoolOptions so;
  so.dir = config->spool.dir;
  so.max_bytes = config->spool.budget_bytes;
  so.fsync = ToPolicy(config->spool.fsync);
  so.batch_delay = config->spool.fsync_delay;
  so.segment_bytes = config->spool.segment_bytes;
  so.zstd_level = config->spool.compression_level;
  auto spool = spool::SpoolWriter::Open(so);
  if (!spool.ok()) return Fatal("spool " + so.dir, spool.status());

  sink::DescriptorOptions dopts;
  dopts.changelog_for_keyed_tables = config->target.mode == TableMode::kChangeLog;
  dopts.table_name = config->target.table_name;
  // Nothing replicated yet (no descriptor was ever written): an unreachable target is then
  // a configuration problem rather than an outage.
  const std::string descriptors_dir = config->runtime.state_dir + "/descriptors";
  const bool first_start = !std::filesystem::exists(descriptors_dir, ec) ||
                           std::filesystem::is_empty(descriptors_dir, ec);
  pipeline::DescriptorStore descriptors(descriptors_dir, dopts);
  if (Status s = descriptors.Load(); !s.ok()) return Fatal("descriptor store", s);
  sink::DeadLetterWriter dead_letters(config->runtime.state_dir + "/dead_letters.jsonl");

  MetricsRegistry registry;
  auto metrics = pipeline::PipelineMetrics::Register(&registry);
  if (!metrics.ok()) return Fatal("metrics", metrics.status());
  auto target = pipeline::MakeTargetSetup(*config);
  if (!target.ok()) return Fatal("target credentials", target.status());
  if (Status s = pipeline::CheckTarget(*target, first_start, std::chrono::seconds(15)); !s.ok())
    return Fatal("target", s);

  // The flusher runs from the start: a snapshot copy is sent while it is being made, and
  // what BigQuery acknowledges frees spool budget for the rest of the copy.
  snapshot::SyncStateStore sync_states(config->runtime.state_dir + "/snapshot");
  snapshot::TableSyncOptions so_sync;
  so_sync.dsn = config->source.ConnInfo();
  so_sync.slot = config->replication.slot;
  so_sync.publication = config->replication.publication;
  so_sync.create_slot = config->replication.create_slot;
  so_sync.create_publication = config->replication.create_publication;
  so_sync.tables = config->tables;
  so_sync.copy = config->snapshot.copy;
  so_sync.clear_before_copy = config->target.truncate == TruncateMode::kDeleteKeys;
  so_sync.workers = static_cast<std::uint32_t>(config->snapshot.workers);
  so_sync.poll_interval = config->snapshot.poll_interval;
  so_sync.min_chunk_pages = std::max<std::uint64_t>(1, config->snapshot.chunk_bytes / 8192);
  // Copied rows are spread over every flush worker, each with a queue of records: small
  // records keep that in-flight memory bounded (workers merge them into 4 MiB appends).
  so_sync.batch_max_bytes = std::min<std::size_t>(1 << 20, SpoolGroupBytes(*config));
  so_sync.held_dir = config->runtime.state_dir + "/snapshot";
  so_sync.held_budget = config->snapshot.held_budget_bytes;
  so_sync.progress_bar =
      ::isatty(STDERR_FILENO) == 1 && config->runtime.log_format == LogFormat::kText;
  snapshot::TableSync table_sync(so_sync, &sync_states, &descriptors, spool->get(), &dead_letters,
                                 &*metrics, &shutdown);

  pipeline::FlusherOptions fo;
  fo.parallelism = config->flush.parallelism;
  fo.endpoint = target->endpoint;
  fo.tables = target->tables;
  fo.on_snapshot_acked = [&table_sync](std::uint32_t table, Lsn hold_from) {
    table_sync.OnCopyAcknowledged(table, hold_from);
  };
  pipeline::Flusher flusher(fo, spool->get(), &descriptors, &dead_letters, &*metrics);
  if (Status s = flusher.Start(); !s.ok()) return Fatal("flusher", s);

  std::unique_ptr<HttpEndpoint> http;
  if (!config->runtime.metrics_address.empty()) {
    auto h = HttpEndpoint::Start(config->runtime.metrics_address, &registry,
                                 [&]() { return flusher.failure(); });
    if (!h.ok()) return Fatal("metrics endpoint", h.status());
    http = std::move(*h);
    spdlog::info("metrics on http://{}:{}/metrics", http->host(), http->port());
  }
  registry
      .AddCallbackGauge(
          "pg2bq_spool_bytes", "Bytes in spool segments and spill files",
          [&]() { return static_cast<double>((*spool)->metrics().bytes_on_disk.load()); })
      .ok();
  registry
      .AddCallbackGauge("pg2bq_snapshot_held_bytes",
                        "Bytes of streamed changes held in side spools while their tables are "
                        "copied (no disk budget applies to them)",
                        [&]() { return static_cast<double>(table_sync.held_bytes()); })
      .ok();

  // First start: create the slot with an exported snapshot and start copying the tables in
  // it; after a restart: resume unfinished copies. The copies run beside the stream, their
  // tables' changes held until the copy is in the spool (docs/SNAPSHOT.md).
  std::vector<pipeline::TableSyncChange> held_at_start;
  if (auto b = table_sync.Bootstrap(); !b.ok()) {
    if (!shutdown.cancelled()) {
      shutdown.Cancel();  // a copy already started stops (TableSync joins it)
      flusher.Abort();
      return Fatal("snapshot", b.status());
    }
    spdlog::info("snapshot interrupted by the stop signal; it resumes at the next start");
  } else {
    held_at_start = std::move(*b);
  }

  pipeline::CaptureOptions co;
  co.stream.dsn = config->source.ConnInfo();
  co.stream.slot = config->replication.slot;
  co.stream.publications = {config->replication.publication};
  co.stream.create_slot = config->replication.create_slot;
  co.stream.create_publication = config->replication.create_publication;
  co.stream.messages = config->replication.logical_messages == LogicalMessageMode::kPass;
  co.sql_dsn = config->source.ConnInfo();
  co.tables = config->tables;
  co.truncate = config->target.truncate;
  co.group_max_bytes = SpoolGroupBytes(*config);
  co.group_max_rows = config->flush.batch_max_rows;
  co.pass_messages = config->replication.logical_messages == LogicalMessageMode::kPass;
  co.heartbeat_interval = config->replication.heartbeat_interval;
  co.table_sync = &table_sync;
  co.apply_from = table_sync.ApplyFrom();
  co.at_start = std::move(held_at_start);
  pipeline::Capture capture(co, spool->get(), &descriptors, &dead_letters, &*metrics, &shutdown);
  if (!shutdown.cancelled()) {
    // A stop signal while replication starts is a stop, not an error: Start() returns
    // Aborted, Run() is skipped and the shutdown below flushes what is spooled (exit 0).
    if (Status s = capture.Start(); !s.ok() && !shutdown.cancelled()) {
      shutdown.Cancel();  // a copy Bootstrap started stops (TableSync joins it)
      flusher.Abort();
      return Fatal("source", s);
    }
  }

  Status capture_status;
  std::atomic<bool> capture_done{false};
  std::thread reader([&] {
    if (!shutdown.cancelled()) capture_status = capture.Run();
    capture_done.store(true);
  });
  spdlog::info("pg2bq run: replicating slot {} into {}.{}", config->replication.slot,
               config->target.project, config->target.dataset);
  int exit_code = 0;
  std::uint64_t reloads_seen = (*signals)->reload_requests();
  while (!shutdown.cancelled() && !capture_done.load()) {
    if (Status f = flusher.failure(); !f.ok()) {
      exit_code = 1;
      break;
    }
    if (const auto r = (*signals)->reload_requests(); r != reloads_seen) {
      reloads_seen = r;
      Reload(args, &*config, &capture);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  shutdown.Cancel();
  (*spool)->Cancel();
  reader.join();
  // A copy running beside the stream is cancelled (its durable chunks stay done) and resumes
  // at the next start, as do held changes (docs/SNAPSHOT.md).
  table_sync.Stop();
  if (!capture_status.ok()) {
    spdlog::error("reader: {}", capture_status.ToString());
    exit_code = 1;
  }
  const auto deadline = std::chrono::steady_clock::now() + config->runtime.shutdown_timeout;
  Status drained = flusher.Drain(deadline);
  if (!drained.ok()) spdlog::warn("flush at shutdown: {}", drained.ToString());
  if (http) http->Stop();
  if (Status s = (*spool)->Close(); !s.ok()) {
    spdlog::error("closing the spool: {}", s.ToString());
    exit_code = 1;
  }
  spdlog::info("pg2bq run: stopped ({})", exit_code == 0 ? "clean" : "error");
  return exit_code;
}

}  // namespace pg2bq::agent
