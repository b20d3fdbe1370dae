// `pg2bq status --config FILE`: where the agent stands, from its state directory (works
// while the agent runs or is stopped) and, when reachable, from the source's slot and the
// agent's live /metrics endpoint. Read-only: it never repairs or changes anything.
#include <httplib.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "agent/http_endpoint.h"
#include "agent/pipeline/sql_session.h"
#include "agent/pipeline/target_setup.h"
#include "agent/snapshot/held_changes.h"
#include "agent/snapshot/sync_state.h"
#include "common/lsn.h"
#include "spool/file_util.h"
#include "spool/scan.h"

namespace pg2bq::agent {

int RunStatusCommand(int argc, char** argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::printf(
          "usage: pg2bq status --config FILE\n\n"
          "Prints the spool (durable and acknowledged LSNs, backlog, bytes), the tables\n"
          "and their descriptor versions, dead letters, the slot as PostgreSQL sees it, and\n"
          "the running agent's pg2bq_* metrics when its endpoint answers.\n");
      return 0;
    }
    args.push_back(a);
  }
  auto config = pipeline::LoadConfigForCommand(args, "status");
  if (!config) return 2;
  int rc = 0;

  std::printf("state dir: %s\n", config->runtime.state_dir.c_str());
  auto scan = spool::ScanSpool(config->spool.dir, {});
  if (!scan.ok()) {
    std::printf("spool %s: %s\n", config->spool.dir.c_str(), scan.status().ToString().c_str());
    rc = 1;
  } else {
    std::uint64_t bytes = 0, rows = 0, records = 0;
    for (const auto& s : scan->segments) {
      bytes += s.file_size;
      rows += s.rows;
      records += s.records;
    }
    std::printf("spool: %s\n  durable LSN      %s\n", config->spool.dir.c_str(),
                FormatLsn(scan->durable_lsn).c_str());
    if (scan->checkpoint) {
      std::printf("  acknowledged LSN %s (checkpoint at %s)\n",
                  FormatLsn(scan->checkpoint->acked_lsn).c_str(),
                  scan->checkpoint->position.ToString().c_str());
    } else {
      std::printf("  acknowledged LSN none yet\n");
    }
    std::printf(
        "  segments %zu, %llu bytes, %llu records, %llu rows (from the checkpoint on, "
        "segment granularity)\n",
        scan->segments.size(), static_cast<unsigned long long>(bytes),
        static_cast<unsigned long long>(records), static_cast<unsigned long long>(rows));
    if (!scan->torn_tail.empty()) std::printf("  torn tail: %s\n", scan->torn_tail.c_str());
  }

  // Tables: the latest descriptor version of each relation.
  std::map<std::string, std::string> latest;  // oid -> "version (table)"
  std::error_code ec;
  const std::string ddir = config->runtime.state_dir + "/descriptors";
  std::map<unsigned, std::pair<unsigned, std::string>> tables;
  for (const auto& f : std::filesystem::directory_iterator(ddir, ec)) {
    unsigned oid = 0, version = 0;
    if (std::sscanf(f.path().filename().c_str(), "%u.%u.json", &oid, &version) != 2) continue;
    auto content = spool::ReadWholeFile(f.path().string());
    const std::string text = content.ok() ? *content : std::string();
    auto& t = tables[oid];
    if (version >= t.first) t = {version, text};
  }
  std::printf("tables: %zu\n", tables.size());
  for (const auto& [oid, t] : tables) {
    const auto j = nlohmann::json::parse(t.second, nullptr, false);
    const std::string name =
        j.is_discarded() ? std::string("?") : j.value("schema", "") + "." + j.value("name", "");
    std::printf("  %-40s oid %u, descriptor version %u\n", name.c_str(), oid, t.first);
  }

  // Snapshot copies (docs/SNAPSHOT.md); live rate/ETA are in the pg2bq_snapshot_* metrics.
  {
    snapshot::SyncStateStore store(config->runtime.state_dir + "/snapshot");
    auto states = store.LoadAll();
    if (!states.ok()) {
      std::printf("snapshot copies: %s\n", states.status().ToString().c_str());
      rc = 1;
    } else {
      std::printf("snapshot copies: %zu\n", states->size());
      for (const auto& st : *states) {
        const std::string name = st.schema + "." + st.table;
        std::printf("  %-40s %s, chunks %zu/%zu, %llu rows, changes from %s\n", name.c_str(),
                    snapshot::SyncPhaseName(st.phase), st.ChunksDone(), st.chunks.size(),
                    static_cast<unsigned long long>(st.RowsCopied()),
                    FormatLsn(st.hold_from_lsn).c_str());
      }
      auto requests = store.ResyncRequests();
      if (requests.ok())
        for (std::uint32_t oid : *requests)
          std::printf("  relation %u: re-sync requested\n", oid);
    }
    // Side spools of changes held beside a copy (no disk budget applies to them).
    auto held = snapshot::HeldChanges::BytesOnDisk(config->runtime.state_dir + "/snapshot");
    if (!held.ok()) {
      std::printf("held changes: %s\n", held.status().ToString().c_str());
      rc = 1;
    } else if (!held->empty()) {
      std::uint64_t total = 0;
      for (const auto& [oid, bytes] : *held)
        total += bytes;
      std::printf("held changes: %zu side spool(s), %llu bytes\n", held->size(),
                  static_cast<unsigned long long>(total));
      for (const auto& [oid, bytes] : *held)
        std::printf("  relation %u: %llu bytes\n", oid, static_cast<unsigned long long>(bytes));
    }
  }

  std::uint64_t dead = 0;
  {
    std::ifstream in(config->runtime.state_dir + "/dead_letters.jsonl");
    for (std::string line; std::getline(in, line);)
      ++dead;
  }
  std::printf("dead letters: %llu (%s/dead_letters.jsonl)\n", static_cast<unsigned long long>(dead),
              config->runtime.state_dir.c_str());
  if (dead) rc = 1;

  auto sql = pipeline::SqlSession::Connect(config->source.ConnInfo(), 10000);
  if (!sql.ok()) {
    std::printf("slot: source unreachable: %s\n", sql.status().ToString().c_str());
  } else {
    auto rows = (*sql)->Query(
        "SELECT active, confirmed_flush_lsn::text, pg_current_wal_lsn()::text, "
        "pg_current_wal_lsn() - confirmed_flush_lsn FROM pg_replication_slots "
        "WHERE slot_name = $1",
        {config->replication.slot});
    if (!rows.ok()) {
      std::printf("slot: %s\n", rows.status().ToString().c_str());
    } else if (rows->empty()) {
      std::printf("slot %s: does not exist\n", config->replication.slot.c_str());
    } else {
      const auto& r = (*rows)[0];
      std::printf("slot %s: %s, confirmed_flush %s, server WAL %s, retained %s bytes\n",
                  config->replication.slot.c_str(), r[0] && *r[0] == "t" ? "active" : "inactive",
                  r[1].value_or("-").c_str(), r[2].value_or("-").c_str(),
                  r[3].value_or("-").c_str());
    }
  }

  auto addr = ParseListenAddress(config->runtime.metrics_address);
  if (addr.ok() && addr->port != 0) {
    httplib::Client c(addr->host.empty() ? "127.0.0.1" : addr->host, addr->port);
    c.set_connection_timeout(std::chrono::seconds(2));
    auto res = c.Get("/metrics");
    if (res && res->status == 200) {
      std::printf("live metrics (http://%s:%d/metrics):\n", addr->host.c_str(), addr->port);
      std::size_t start = 0;
      while (start < res->body.size()) {
        std::size_t end = res->body.find('\n', start);
        if (end == std::string::npos) end = res->body.size();
        const std::string line = res->body.substr(start, end - start);
        if (line.rfind("pg2bq_", 0) == 0 && line.find("_bucket") == std::string::npos)
          std::printf("  %s\n", line.c_str());
        start = end + 1;
      }
    } else {
      std::printf("live metrics: agent not answering on %s\n",
                  config->runtime.metrics_address.c_str());
    }
  }
  return rc;
}

}  // namespace pg2bq::agent
