// AgentConfig: every setting of the always-on agent (`pg2bq run`, `verify`,
// `status`, `config check`), loaded from a config file, PG2BQ_* environment
// variables and the command line, in that increasing order of precedence:
//
//     command line  >  environment  >  config file  >  built-in default
//
// Keys are "section.name" (docs/CONFIG.md lists them all). In the file they are
// written INI-style under [section]; on the command line as --section.name=VALUE;
// in the environment as PG2BQ_SECTION_NAME. A list key given by a higher source
// replaces the lower source's list (it does not append).
//
// Loading never stops at the first mistake: LoadAgentConfig() returns every
// problem at once, one line each, naming the key and where its value came from
// ("/etc/pg2bq.conf:12", "env PG2BQ_SPOOL_BUDGET", "--spool.budget"), so an
// operator fixes a file in one pass. Secrets (libpq password fields) never leave
// this module unredacted except through SourceConfig::ConnInfo(), which is for
// libpq only.
#pragma once

#include <spdlog/common.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace pg2bq::agent {

enum class FsyncMode { kAlways, kBatch, kOff };
enum class LogFormat { kText, kJson };
enum class LogicalMessageMode { kPass, kIgnore };
// How a source TRUNCATE reaches the target (docs/CONFIG.md, target.truncate).
enum class TruncateMode { kDeleteKeys, kIgnore, kFail };
enum class TableMode { kCdc, kChangeLog };

// Where an effective value came from.
struct ConfigOrigin {
  enum class Kind { kDefault, kFile, kEnv, kCommandLine };
  Kind kind = Kind::kDefault;
  std::string where;  // "pg2bq.conf:12", "env PG2BQ_SLOT", "--replication.slot", "default"
};

struct ConfigSetting {
  std::vector<std::string> values;         // one element except for list keys
  ConfigOrigin origin;                     // of the first value
  std::vector<std::string> value_origins;  // per value (list keys span lines); may be empty
};

struct SourceConfig {
  // Effective libpq parameters (keyword, value): source.dsn overlaid with the
  // individual source.<keyword> keys, in libpq's keyword order.
  std::vector<std::pair<std::string, std::string>> params;

  // A conninfo string for PQconnectdb. Contains the password: never log it.
  std::string ConnInfo() const;
  // The same with password-type fields (libpq's dispchar "*") replaced by "********".
  std::string RedactedConnInfo() const;
  // The value of one parameter, or "" if unset.
  std::string Param(std::string_view keyword) const;
};

struct ReplicationConfig {
  std::string slot = "pg2bq";
  std::string publication = "pg2bq";
  bool create_slot = true;
  bool create_publication = false;
  std::chrono::milliseconds heartbeat_interval{0};  // 0 = no heartbeat messages
  LogicalMessageMode logical_messages = LogicalMessageMode::kIgnore;
};

struct TablesConfig {
  std::vector<std::string> include;  // "schema.table" globs (* and ?); empty = all published
  std::vector<std::string> exclude;

  // Whether schema.table is replicated: matched by include (or include empty)
  // and by no exclude pattern. Matching is case-sensitive, like PostgreSQL's
  // quoted identifiers.
  bool Selected(std::string_view schema, std::string_view table) const;
};

struct TargetConfig {
  std::string project;
  std::string dataset;
  // {schema}, {schema_} (schema and '_', nothing for public), {table}; expanded by
  // sink::TargetTableId.
  std::string table_name = "{schema_}{table}";
  TableMode mode = TableMode::kCdc;
  TruncateMode truncate = TruncateMode::kDeleteKeys;
  std::string grpc_endpoint = "bigquerystorage.googleapis.com:443";
  std::string rest_endpoint = "https://bigquery.googleapis.com";
  bool insecure = false;         // plaintext, no credentials: the local emulator only
  std::string credentials_file;  // empty = Application Default Credentials
};

struct SpoolConfig {
  std::string dir;                           // effective: defaults to <agent.state_dir>/spool
  std::uint64_t budget_bytes = 10ull << 30;  // 0 = unlimited
  FsyncMode fsync = FsyncMode::kBatch;
  std::chrono::milliseconds fsync_delay{10};
  std::uint64_t segment_bytes = 64ull << 20;
  int compression_level = 1;  // zstd; negative levels are faster and compress less
};

struct FlushConfig {
  std::uint64_t batch_max_rows = 50000;
  std::uint64_t batch_max_bytes = 8ull << 20;
  std::chrono::milliseconds batch_max_latency{250};
  int parallelism = 4;
};

// [snapshot]: copying tables pg2bq has not replicated yet (docs/SNAPSHOT.md).
struct SnapshotConfig {
  bool copy = true;                        // snapshot.initial = copy | skip
  int workers = 4;                         // parallel chunk connections per table
  std::uint64_t chunk_bytes = 8ull << 20;  // smallest ctid chunk (heap bytes)
  std::chrono::milliseconds poll_interval{10000};
  // Side spools of held changes (docs/SNAPSHOT.md, "Hold-back"); 0 = unlimited.
  std::uint64_t held_budget_bytes = 10ull << 30;
};

struct RuntimeConfig {
  std::string state_dir = "/var/lib/pg2bq";
  std::string metrics_address = "127.0.0.1:9187";  // empty = no HTTP endpoint
  spdlog::level::level_enum log_level = spdlog::level::info;
  LogFormat log_format = LogFormat::kText;
  std::chrono::milliseconds shutdown_timeout{30000};
};

struct AgentConfig {
  std::string config_file;  // empty when none was given
  SourceConfig source;
  ReplicationConfig replication;
  TablesConfig tables;
  TargetConfig target;
  SpoolConfig spool;
  FlushConfig flush;
  SnapshotConfig snapshot;
  RuntimeConfig runtime;
  // Every key's effective raw value and origin (keys left at an empty default are
  // included too), for --print-config and reload decisions.
  std::map<std::string, ConfigSetting> settings;
};

// What LoadAgentConfig reads. `args` are command-line tokens after the
// sub-command (e.g. {"--config", "a.conf", "--spool.fsync=off"}); `env` is the
// process environment (only PG2BQ_* entries matter).
struct ConfigInputs {
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
};

// The environment of this process as a map (for ConfigInputs::env).
std::map<std::string, std::string> ProcessEnvironment();

struct ConfigLoadResult {
  AgentConfig config;                 // meaningful only when problems is empty
  std::vector<std::string> problems;  // one line each; empty = valid
  std::vector<std::string> warnings;  // e.g. an unknown PG2BQ_* variable (ignored)
  bool ok() const { return problems.empty(); }
};

// Reads the file named by --config (or env PG2BQ_CONFIG), the environment and
// the command line; checks every value and the relations between them.
// Does not touch the network or create anything.
ConfigLoadResult LoadAgentConfig(const ConfigInputs& inputs);

// The effective configuration as a config file (sections, one key per line,
// each with a comment naming its origin); secrets replaced by "<redacted>".
std::string RenderEffectiveConfig(const AgentConfig& config);

// Keys whose effective value differs between two configs and that a running
// agent cannot apply without a restart (every key except those docs/CONFIG.md
// marks "reloadable").
std::vector<std::string> NonReloadableChanges(const AgentConfig& before, const AgentConfig& after);
bool IsReloadableKey(std::string_view key);

// One line per key for `--help`: "--section.name  (default) description".
std::string ConfigKeysHelp();

// Helpers shared with tests and other modules.
Result<std::uint64_t> ParseByteSize(std::string_view text);              // "10GiB", "512MB", "4096"
Result<std::chrono::milliseconds> ParseDuration(std::string_view text);  // "250ms", "10s", "5m"
bool GlobMatch(std::string_view pattern, std::string_view text);         // * and ?

const char* FsyncModeName(FsyncMode m);
const char* LogFormatName(LogFormat f);
const char* LogicalMessageModeName(LogicalMessageMode m);
const char* TruncateModeName(TruncateMode m);
const char* TableModeName(TableMode m);

}  // namespace pg2bq::agent
