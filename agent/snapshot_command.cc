// `pg2bq snapshot --config FILE [--table schema.name ...]`: without --table, prints each
// table's snapshot sync state from the state dir; with --table, asks for a fresh copy of
// those tables (a re-sync). The request is a file next to the sync states: the running
// agent takes it within snapshot.poll_interval, or the next `pg2bq run` when it starts
// (docs/SNAPSHOT.md). Exit: 0 done, 1 a table is not replicated, 2 error.
#include <libpq-fe.h>

#include <cstdio>
#include <string>
#include <vector>

#include "agent/cancellation.h"
#include "agent/pg_connection.h"
#include "agent/pipeline/target_setup.h"
#include "agent/snapshot/sync_state.h"

namespace pg2bq::agent {
namespace {

void PrintUsage(std::FILE* out) {
  std::fprintf(out,
               "usage: pg2bq snapshot --config FILE [--table schema.name ...] "
               "[--section.key=VALUE ...]\n\n"
               "Without --table: prints the snapshot sync state of every table.\n"
               "With --table: requests a fresh copy (re-sync) of each named table; the running\n"
               "agent copies it within snapshot.poll_interval, otherwise the next `pg2bq run`\n"
               "does when it starts.\n"
               "Exit status: 0 done, 1 a table is not replicated, 2 error.\n");
}

int PrintStates(const snapshot::SyncStateStore& store) {
  auto all = store.LoadAll();
  if (!all.ok()) {
    std::fprintf(stderr, "pg2bq snapshot: %s\n", all.status().ToString().c_str());
    return 2;
  }
  if (all->empty()) std::printf("no table has a snapshot sync state yet\n");
  for (const auto& s : *all) {
    std::printf("%s.%s (oid %u): %s, %zu/%zu chunks, %llu rows copied, changes from %s\n",
                s.schema.c_str(), s.table.c_str(), s.relation_oid, snapshot::SyncPhaseName(s.phase),
                s.ChunksDone(), s.chunks.size(), static_cast<unsigned long long>(s.RowsCopied()),
                FormatLsn(s.hold_from_lsn).c_str());
  }
  auto requests = store.ResyncRequests();
  if (requests.ok())
    for (std::uint32_t oid : *requests)
      std::printf("relation %u: re-sync requested, not started yet\n", oid);
  return 0;
}

}  // namespace

int RunSnapshotCommand(int argc, char** argv) {
  std::vector<std::string> args, tables;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      PrintUsage(stdout);
      return 0;
    }
    if (a == "--table" && i + 1 < argc) {
      tables.push_back(argv[++i]);
      continue;
    }
    if (a.rfind("--table=", 0) == 0) {
      tables.push_back(a.substr(8));
      continue;
    }
    args.push_back(a);
  }
  auto config = pipeline::LoadConfigForCommand(args, "snapshot");
  if (!config) return 2;
  snapshot::SyncStateStore store(config->runtime.state_dir + "/snapshot");
  if (tables.empty()) return PrintStates(store);
  if (Status s = store.Open(); !s.ok()) {
    std::fprintf(stderr, "pg2bq snapshot: %s\n", s.ToString().c_str());
    return 2;
  }

  Cancellation cancel;
  const auto timeout = std::chrono::seconds(30);
  auto conn =
      PgConnection::Connect(config->source.ConnInfo(), ConnectionKind::kNormal, timeout, &cancel);
  if (!conn.ok()) {
    std::fprintf(stderr, "pg2bq snapshot: %s\n", conn.status().ToString().c_str());
    return 2;
  }
  int exit_code = 0;
  for (const std::string& t : tables) {
    const auto dot = t.find('.');
    if (dot == std::string::npos) {
      std::fprintf(stderr, "pg2bq snapshot: --table %s: expected schema.name\n", t.c_str());
      return 2;
    }
    const std::string schema = t.substr(0, dot), name = t.substr(dot + 1);
    auto res = (*conn)->Exec(
        "SELECT c.oid, EXISTS (SELECT 1 FROM pg_catalog.pg_publication_tables p WHERE p.pubname "
        "= " +
            (*conn)->QuoteLiteral(config->replication.publication) +
            " AND p.schemaname = n.nspname AND p.tablename = c.relname) "
            "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = " +
            (*conn)->QuoteLiteral(schema) + " AND c.relname = " + (*conn)->QuoteLiteral(name),
        timeout, &cancel);
    if (!res.ok()) {
      std::fprintf(stderr, "pg2bq snapshot: %s\n", res.status().ToString().c_str());
      return 2;
    }
    if (PQntuples(res->get()) != 1) {
      std::fprintf(stderr, "pg2bq snapshot: table %s does not exist\n", t.c_str());
      exit_code = 1;
      continue;
    }
    const bool published = PQgetvalue(res->get(), 0, 1)[0] == 't';
    if (!published || !config->tables.Selected(schema, name)) {
      std::fprintf(stderr, "pg2bq snapshot: table %s is not replicated (%s); nothing requested\n",
                   t.c_str(),
                   published ? "excluded by tables.include/exclude"
                             : ("not in publication " + config->replication.publication).c_str());
      exit_code = 1;
      continue;
    }
    const auto oid = static_cast<std::uint32_t>(std::stoul(PQgetvalue(res->get(), 0, 0)));
    if (Status s = store.RequestResync(oid); !s.ok()) {
      std::fprintf(stderr, "pg2bq snapshot: %s\n", s.ToString().c_str());
      return 2;
    }
    std::printf(
        "%s: re-sync requested; the running agent copies it within %lld ms "
        "(snapshot.poll_interval), or the next `pg2bq run` when it starts\n",
        t.c_str(), static_cast<long long>(config->snapshot.poll_interval.count()));
  }
  return exit_code;
}

}  // namespace pg2bq::agent
