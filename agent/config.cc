#include "agent/config.h"

#include <fmt/format.h>
#include <libpq-fe.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <set>
#include <sstream>

#include "agent/http_endpoint.h"

extern char** environ;

namespace pg2bq::agent {
namespace {

namespace po = boost::program_options;

constexpr std::string_view kEnvPrefix = "PG2BQ_";
constexpr const char* kRedacted = "<redacted>";
constexpr const char* kMaskedSecret = "********";

struct KeySpec {
  std::string name;           // "section.key"
  std::string default_value;  // as the user would write it; "" = unset
  std::string help;
  bool list = false;        // may be repeated / comma-separated
  bool secret = false;      // never printed
  bool reloadable = false;  // SIGHUP applies it without a restart
  bool libpq = false;       // a source.<libpq keyword> key
};

// The sections in the order files, docs and --print-config use.
const char* const kSections[] = {"source", "replication", "tables",   "target",
                                 "spool",  "flush",       "snapshot", "agent"};

std::vector<KeySpec> BuildKeySpecs() {
  std::vector<KeySpec> k;
  auto add = [&](std::string name, std::string def, std::string help, bool reloadable = false) {
    k.push_back(
        {std::move(name), std::move(def), std::move(help), false, false, reloadable, false});
  };
  add("source.dsn", "",
      "libpq connection string or URI of the primary (keyword=value form or postgresql://...)");
  // Every parameter this libpq knows, as an individual key that overrides the DSN.
  if (PQconninfoOption* defaults = PQconndefaults()) {
    for (PQconninfoOption* o = defaults; o->keyword != nullptr; ++o) {
      if (std::strcmp(o->keyword, "replication") == 0) continue;  // the agent decides
      KeySpec s;
      s.name = std::string("source.") + o->keyword;
      s.help = fmt::format("libpq parameter {} ({})", o->keyword, o->label ? o->label : "");
      s.secret = o->dispchar != nullptr && std::strchr(o->dispchar, '*') != nullptr;
      s.libpq = true;
      k.push_back(std::move(s));
    }
    PQconninfoFree(defaults);
  }
  add("replication.slot", "pg2bq", "logical replication slot (pgoutput)");
  add("replication.publication", "pg2bq", "publication the slot streams");
  add("replication.create_slot", "true", "create the slot if it does not exist");
  add("replication.create_publication", "false",
      "create the publication (FOR ALL TABLES) if it does not exist");
  add("replication.heartbeat_interval", "0s",
      "write a logical heartbeat message this often so idle databases release WAL (0s = off)",
      true);
  add("replication.logical_messages", "ignore",
      "pg_logical_emit_message() payloads: pass (to the change-log) or ignore");
  k.push_back({"tables.include", "", "schema.table glob (* ?) to replicate; empty = all published",
               true, false, false, false});
  k.push_back({"tables.exclude", "", "schema.table glob (* ?) never replicated", true, false, false,
               false});
  add("target.project", "", "Google Cloud project of the dataset (required)");
  add("target.dataset", "", "BigQuery dataset that receives the tables (required)");
  add("target.table_name", "{schema_}{table}",
      "target table name template ({schema}, {schema_} = schema and '_' except for public, "
      "{table})");
  add("target.mode", "cdc",
      "cdc (UPSERT/DELETE into a keyed copy) or changelog (append-only history)");
  add("target.truncate", "delete",
      "how a TRUNCATE is applied: delete (every target key, in order), ignore or fail");
  add("target.grpc_endpoint", "bigquerystorage.googleapis.com:443",
      "Storage Write API host:port (an emulator's for tests)");
  add("target.rest_endpoint", "https://bigquery.googleapis.com",
      "BigQuery REST base URL (tables.insert/patch, tabledata.list)");
  add("target.insecure", "false",
      "plaintext, no credentials: only for a local emulator on explicit endpoints");
  add("target.credentials_file", "",
      "service-account or authorized-user JSON key; empty = Application Default Credentials");
  add("spool.dir", "", "spool directory; empty = <agent.state_dir>/spool");
  add("spool.budget", "10GiB",
      "disk budget of the spool (0 = unlimited); reading pauses when full");
  add("spool.fsync", "batch", "always | batch | off");
  add("spool.fsync_delay", "10ms", "fsync=batch/off: longest wait before the group write/fsync");
  add("spool.segment_size", "64MiB", "a segment file is sealed past this size");
  add("spool.compression_level", "1",
      "zstd level of spooled records, -7..19: lower uses less CPU and more disk");
  add("flush.batch_max_rows", "50000", "rows per append batch at most", true);
  add("flush.batch_max_bytes", "8MiB", "encoded bytes per append batch at most (<= 9.5 MB)", true);
  add("flush.batch_max_latency", "250ms",
      "a batch is sent at the latest this long after its first row", true);
  add("flush.parallelism", "4", "tables flushed in parallel (order is kept per table)");
  add("snapshot.initial", "copy",
      "copy (rows that exist before replication starts, at first start and for tables added "
      "later) or skip (only later changes)");
  add("snapshot.workers", "4", "parallel connections copying chunks of one table (1-64)");
  add("snapshot.chunk_size", "8MiB",
      "smallest ctid chunk of heap a copy worker takes (a table is split into at most 64)");
  add("snapshot.poll_interval", "10s",
      "how often the running agent looks for tables added to the publication and re-sync "
      "requests");
  add("snapshot.held_budget", "10GiB",
      "disk for the changes of tables being copied (0 = unlimited); reading pauses when full");
  add("agent.state_dir", "/var/lib/pg2bq", "checkpoints and table state");
  add("agent.metrics_address", "127.0.0.1:9187",
      "host:port of /metrics, /healthz, /readyz (port 0 = any free port; empty = off)");
  add("agent.log_level", "info", "trace | debug | info | warn | error | critical | off", true);
  add("agent.log_format", "text", "text or json (one JSON object per line)", true);
  add("agent.shutdown_timeout", "30s",
      "on SIGTERM/SIGINT, how long to keep flushing before exiting", true);
  return k;
}

const std::vector<KeySpec>& KeySpecs() {
  static const std::vector<KeySpec> specs = BuildKeySpecs();
  return specs;
}

const KeySpec* FindKey(std::string_view name) {
  for (const KeySpec& s : KeySpecs()) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

// "replication.slot" -> "PG2BQ_REPLICATION_SLOT"
std::string EnvNameOf(std::string_view key) {
  std::string env(kEnvPrefix);
  for (char c : key)
    env += c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return env;
}

std::string Trim(std::string_view s) {
  std::size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b])))
    ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1])))
    --e;
  return std::string(s.substr(b, e - b));
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Where each key occurs in a config file, scanned with the same rules as
// Boost's config file parser ('#' starts a comment anywhere, [section] prefixes,
// name = value), because Boost reports neither line numbers nor all errors.
struct FileScan {
  std::map<std::string, std::vector<int>> lines_of_key;
  std::vector<std::string> syntax_problems;
  std::vector<int> broken_lines;  // 1-based, ascending
};

// The text with the broken lines emptied (line numbers kept), so that Boost
// parses the rest and its problems are reported in the same run.
std::string WithoutLines(const std::string& text, const std::vector<int>& lines) {
  if (lines.empty()) return text;
  std::string out;
  std::istringstream in(text);
  std::string line;
  int number = 0;
  std::size_t next = 0;
  while (std::getline(in, line)) {
    ++number;
    if (next < lines.size() && lines[next] == number) {
      ++next;
      line.clear();
    }
    out += line + "\n";
  }
  return out;
}

FileScan ScanConfigFile(const std::string& path, const std::string& text) {
  FileScan scan;
  std::istringstream in(text);
  std::string line, prefix;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::string s = Trim(line);
    if (s.empty()) continue;
    if (s.front() == '[' && s.back() == ']') {
      prefix = s.substr(1, s.size() - 2);
      if (!prefix.empty() && prefix.back() != '.') prefix += '.';
      continue;
    }
    auto eq = s.find('=');
    if (eq == std::string::npos) {
      scan.broken_lines.push_back(number);
      scan.syntax_problems.push_back(
          fmt::format("{}:{}: expected 'key = value' or '[section]', got '{}'", path, number, s));
      continue;
    }
    std::string name = Trim(std::string_view(s).substr(0, eq));
    if (name.empty()) {
      scan.broken_lines.push_back(number);
      scan.syntax_problems.push_back(
          fmt::format("{}:{}: missing key name before '='", path, number));
      continue;
    }
    scan.lines_of_key[prefix + name].push_back(number);
  }
  return scan;
}

po::options_description BuildDescription() {
  po::options_description desc("configuration keys");
  desc.add_options()("config", po::value<std::string>(), "config file");
  for (const KeySpec& s : KeySpecs()) {
    if (s.list) {
      desc.add_options()(s.name.c_str(), po::value<std::vector<std::string>>(), s.help.c_str());
    } else {
      desc.add_options()(s.name.c_str(), po::value<std::string>(), s.help.c_str());
    }
  }
  return desc;
}

// Values of one source before merging.
using SourceValues = std::map<std::string, ConfigSetting>;

void Record(SourceValues* values, std::vector<std::string>* problems, const std::string& key,
            const std::vector<std::string>& tokens, ConfigOrigin origin) {
  const KeySpec* spec = FindKey(key);
  auto it = values->find(key);
  if (it != values->end()) {
    if (spec != nullptr && spec->list) {
      it->second.values.insert(it->second.values.end(), tokens.begin(), tokens.end());
      it->second.value_origins.insert(it->second.value_origins.end(), tokens.size(), origin.where);
      return;
    }
    problems->push_back(fmt::format("{}: {}: given more than once (first at {})", origin.where, key,
                                    it->second.origin.where));
    return;
  }
  std::vector<std::string> wheres(tokens.size(), origin.where);
  (*values)[key] = ConfigSetting{tokens, std::move(origin), std::move(wheres)};
}

std::string RedactedValue(const KeySpec* spec, const std::string& value);

// Turns raw strings into the typed config, collecting every problem.
class Converter {
 public:
  Converter(const std::map<std::string, ConfigSetting>& settings,
            std::vector<std::string>* problems)
      : settings_(settings), problems_(problems) {}

  const ConfigSetting& Get(const std::string& key) const { return settings_.at(key); }
  const std::string& Str(const std::string& key) const {
    static const std::string kEmpty;
    const ConfigSetting& s = Get(key);
    return s.values.empty() ? kEmpty : s.values.front();
  }
  bool IsSet(const std::string& key) const {
    return Get(key).origin.kind != ConfigOrigin::Kind::kDefault;
  }

  void Problem(const std::string& key, std::string_view message) {
    const ConfigSetting& s = Get(key);
    if (s.origin.kind == ConfigOrigin::Kind::kDefault) {
      problems_->push_back(fmt::format("{}: {}", key, message));
    } else {
      problems_->push_back(fmt::format("{}: {}: {}", s.origin.where, key, message));
    }
  }
  // A problem that names the offending value (redacted if secret).
  void BadValue(const std::string& key, std::string_view message) {
    Problem(key, fmt::format("'{}' {}", RedactedValue(FindKey(key), Str(key)), message));
  }

  bool Bool(const std::string& key, bool fallback) {
    std::string v = Lower(Str(key));
    if (v == "true" || v == "yes" || v == "on" || v == "1") return true;
    if (v == "false" || v == "no" || v == "off" || v == "0") return false;
    BadValue(key, "is not a boolean (true/false, yes/no, on/off, 1/0)");
    return fallback;
  }

  std::uint64_t Size(const std::string& key, std::uint64_t fallback) {
    auto r = ParseByteSize(Str(key));
    if (!r.ok()) {
      BadValue(key, r.status().message());
      return fallback;
    }
    return *r;
  }

  std::chrono::milliseconds Duration(const std::string& key, std::chrono::milliseconds fallback) {
    auto r = ParseDuration(Str(key));
    if (!r.ok()) {
      BadValue(key, r.status().message());
      return fallback;
    }
    return *r;
  }

  std::int64_t Int(const std::string& key, std::int64_t min, std::int64_t max,
                   std::int64_t fallback) {
    const std::string& v = Str(key);
    std::int64_t out = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    if (ec != std::errc() || end != v.data() + v.size() || v.empty()) {
      BadValue(key, "is not an integer");
      return fallback;
    }
    if (out < min || out > max) {
      BadValue(key, fmt::format("is out of range [{}, {}]", min, max));
      return fallback;
    }
    return out;
  }

  template <typename E>
  E Enum(const std::string& key, std::initializer_list<std::pair<const char*, E>> choices,
         E fallback) {
    std::string v = Lower(Str(key));
    std::string names;
    for (const auto& [name, value] : choices) {
      if (v == name) return value;
      names += names.empty() ? name : std::string(" | ") + name;
    }
    BadValue(key, "is not one of " + names);
    return fallback;
  }

  std::vector<std::string> List(const std::string& key) const {
    std::vector<std::string> out;
    for (const std::string& v : Get(key).values) {
      std::size_t start = 0;
      while (start <= v.size()) {
        std::size_t comma = v.find(',', start);
        if (comma == std::string::npos) comma = v.size();
        std::string item = Trim(std::string_view(v).substr(start, comma - start));
        if (!item.empty()) out.push_back(std::move(item));
        start = comma + 1;
      }
    }
    return out;
  }

 private:
  const std::map<std::string, ConfigSetting>& settings_;
  std::vector<std::string>* problems_;
};

std::string QuoteConnValue(std::string_view v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\\' || c == '\'') out += '\\';
    out += c;
  }
  return out + "'";
}

bool IsSecretLibpqKeyword(std::string_view keyword) {
  const KeySpec* s = FindKey(std::string("source.") + std::string(keyword));
  return s != nullptr && s->secret;
}

std::string RenderConnInfo(const std::vector<std::pair<std::string, std::string>>& params,
                           bool redact) {
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out += ' ';
    out += k + "=" + QuoteConnValue(redact && IsSecretLibpqKeyword(k) ? kMaskedSecret : v);
  }
  return out;
}

// A DSN for display: parsed by libpq and re-rendered with secrets masked; never
// the raw text (a URI carries the password inline).
std::string RedactDsn(const std::string& dsn) {
  if (dsn.empty()) return dsn;
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(dsn.c_str(), &err);
  if (opts == nullptr) {
    PQfreemem(err);
    return kRedacted;
  }
  std::vector<std::pair<std::string, std::string>> params;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val != nullptr) params.emplace_back(o->keyword, o->val);
  }
  PQconninfoFree(opts);
  return RenderConnInfo(params, /*redact=*/true);
}

std::string RedactedValue(const KeySpec* spec, const std::string& value) {
  if (spec == nullptr) return value;
  if (spec->secret) return kRedacted;
  if (spec->name == "source.dsn") return RedactDsn(value);
  return value;
}

void ConvertSource(Converter& c, AgentConfig* cfg) {
  std::map<std::string, std::string> values;
  const std::string& dsn = c.Str("source.dsn");
  if (!dsn.empty()) {
    char* err = nullptr;
    PQconninfoOption* opts = PQconninfoParse(dsn.c_str(), &err);
    if (opts == nullptr) {
      std::string msg = err != nullptr ? Trim(err) : "out of memory";
      PQfreemem(err);
      c.Problem("source.dsn", "not a valid libpq connection string: " + msg);
    } else {
      for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
        if (o->val == nullptr) continue;
        if (std::strcmp(o->keyword, "replication") == 0) {
          c.Problem("source.dsn",
                    "do not set 'replication': the agent opens its own replication "
                    "connection");
          continue;
        }
        values[o->keyword] = o->val;
      }
      PQconninfoFree(opts);
    }
  }
  for (const KeySpec& s : KeySpecs()) {
    if (!s.libpq || !c.IsSet(s.name)) continue;
    values[s.name.substr(std::strlen("source."))] = c.Str(s.name);
  }
  // libpq's own keyword order, so renderings are stable.
  for (const KeySpec& s : KeySpecs()) {
    if (!s.libpq) continue;
    std::string kw = s.name.substr(std::strlen("source."));
    if (auto it = values.find(kw); it != values.end())
      cfg->source.params.emplace_back(kw, it->second);
  }
  // libpq checks these only when connecting; an operator wants to know now.
  // The origin is the individual key when given, else the DSN.
  auto origin_key = [&](const char* kw) {
    std::string key = std::string("source.") + kw;
    return c.IsSet(key) ? key : std::string("source.dsn");
  };
  if (auto it = values.find("sslmode"); it != values.end()) {
    static const std::set<std::string> kModes = {"disable", "allow",     "prefer",
                                                 "require", "verify-ca", "verify-full"};
    if (!kModes.count(it->second)) {
      c.Problem(origin_key("sslmode"),
                fmt::format("sslmode '{}' is not one of disable | allow | prefer | require | "
                            "verify-ca | verify-full",
                            it->second));
    }
  }
  if (auto it = values.find("port"); it != values.end()) {
    // One port, or one per host ("5432,5433").
    std::string_view ports = it->second;
    std::size_t start = 0;
    while (start <= ports.size()) {
      std::size_t comma = std::min(ports.find(',', start), ports.size());
      std::string p = Trim(ports.substr(start, comma - start));
      int n = 0;
      auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), n);
      if (!p.empty() && (ec != std::errc() || end != p.data() + p.size() || n < 1 || n > 65535)) {
        c.Problem(origin_key("port"), fmt::format("port '{}' is not a TCP port (1-65535)", p));
      }
      start = comma + 1;
    }
  }
  if (auto it = values.find("connect_timeout"); it != values.end()) {
    int n = 0;
    const std::string& v = it->second;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || end != v.data() + v.size() || n < 0) {
      c.Problem(origin_key("connect_timeout"),
                fmt::format("connect_timeout '{}' is not a number of seconds", v));
    }
  }
}

bool IsValidSlotName(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  return std::all_of(s.begin(), s.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_';
  });
}

void ValidateTemplate(Converter& c, const std::string& tmpl) {
  const std::string key = "target.table_name";
  bool has_table = false;
  for (std::size_t i = 0; i < tmpl.size(); ++i) {
    char ch = tmpl[i];
    if (ch == '{') {
      std::size_t close = tmpl.find('}', i);
      if (close == std::string::npos) {
        c.BadValue(key, "has an unclosed '{'");
        return;
      }
      std::string name = tmpl.substr(i + 1, close - i - 1);
      if (name == "table") {
        has_table = true;
      } else if (name != "schema" && name != "schema_") {
        c.BadValue(key, fmt::format("uses unknown placeholder '{{{}}}' (known: {{schema}}, "
                                    "{{schema_}}, {{table}})",
                                    name));
        return;
      }
      i = close;
    } else if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-')) {
      c.BadValue(key, fmt::format("contains '{}': BigQuery table names take letters, digits, _ "
                                  "and - (plus the placeholders)",
                                  ch));
      return;
    }
  }
  if (!has_table) c.BadValue(key, "must contain {table}, or every table would map to one target");
}

void ValidatePatterns(Converter& c, const std::string& key,
                      const std::vector<std::string>& patterns) {
  for (const std::string& p : patterns) {
    auto dot = p.find('.');
    if (dot == std::string::npos || dot == 0 || dot + 1 == p.size()) {
      c.Problem(key,
                fmt::format("'{}' is not schema.table (globs * and ? allowed, e.g. public.*)", p));
    }
  }
}

void ConvertAll(Converter& c, AgentConfig* cfg) {
  ConvertSource(c, cfg);

  ReplicationConfig& r = cfg->replication;
  r.slot = c.Str("replication.slot");
  if (!IsValidSlotName(r.slot)) {
    c.BadValue("replication.slot",
               "is not a valid slot name (1-63 of lower-case letters, digits and _)");
  }
  r.publication = c.Str("replication.publication");
  if (r.publication.empty() || r.publication.size() > 63) {
    c.BadValue("replication.publication", "must be 1-63 bytes");
  }
  r.create_slot = c.Bool("replication.create_slot", r.create_slot);
  r.create_publication = c.Bool("replication.create_publication", r.create_publication);
  r.heartbeat_interval = c.Duration("replication.heartbeat_interval", r.heartbeat_interval);
  if (r.heartbeat_interval.count() != 0 && r.heartbeat_interval < std::chrono::seconds(1)) {
    c.BadValue("replication.heartbeat_interval", "must be 0s (off) or at least 1s");
  }
  r.logical_messages = c.Enum<LogicalMessageMode>(
      "replication.logical_messages",
      {{"pass", LogicalMessageMode::kPass}, {"ignore", LogicalMessageMode::kIgnore}},
      r.logical_messages);

  cfg->tables.include = c.List("tables.include");
  cfg->tables.exclude = c.List("tables.exclude");
  ValidatePatterns(c, "tables.include", cfg->tables.include);
  ValidatePatterns(c, "tables.exclude", cfg->tables.exclude);

  TargetConfig& t = cfg->target;
  t.project = c.Str("target.project");
  if (t.project.empty()) {
    c.Problem("target.project",
              "required (e.g. [target] project = my-project, env "
              "PG2BQ_TARGET_PROJECT or --target.project)");
  } else if (!std::all_of(t.project.begin(), t.project.end(), [](char ch) {
               return std::islower(static_cast<unsigned char>(ch)) ||
                      std::isdigit(static_cast<unsigned char>(ch)) || ch == '-' || ch == '.' ||
                      ch == ':';
             })) {
    c.BadValue("target.project",
               "is not a project id (lower-case letters, digits, '-', optional 'domain:' prefix)");
  }
  t.dataset = c.Str("target.dataset");
  if (t.dataset.empty()) {
    c.Problem("target.dataset",
              "required (e.g. [target] dataset = replica, env "
              "PG2BQ_TARGET_DATASET or --target.dataset)");
  } else if (t.dataset.size() > 1024 ||
             !std::all_of(t.dataset.begin(), t.dataset.end(), [](char ch) {
               return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_';
             })) {
    c.BadValue("target.dataset", "is not a dataset id (letters, digits and _, at most 1024)");
  }
  t.table_name = c.Str("target.table_name");
  ValidateTemplate(c, t.table_name);
  t.mode = c.Enum<TableMode>(
      "target.mode", {{"cdc", TableMode::kCdc}, {"changelog", TableMode::kChangeLog}}, t.mode);
  t.truncate = c.Enum<TruncateMode>("target.truncate",
                                    {{"delete", TruncateMode::kDeleteKeys},
                                     {"ignore", TruncateMode::kIgnore},
                                     {"fail", TruncateMode::kFail}},
                                    t.truncate);
  t.grpc_endpoint = c.Str("target.grpc_endpoint");
  if (!ParseListenAddress(t.grpc_endpoint).ok() || ParseListenAddress(t.grpc_endpoint)->port == 0) {
    c.BadValue("target.grpc_endpoint", "is not host:port");
  }
  t.rest_endpoint = c.Str("target.rest_endpoint");
  bool rest_http = t.rest_endpoint.rfind("http://", 0) == 0;
  bool rest_https = t.rest_endpoint.rfind("https://", 0) == 0;
  if (!rest_http && !rest_https) {
    c.BadValue("target.rest_endpoint", "must start with https:// (or http:// with insecure)");
  }
  t.insecure = c.Bool("target.insecure", t.insecure);
  if (t.insecure && t.grpc_endpoint.find("googleapis.com") != std::string::npos) {
    c.Problem("target.insecure",
              fmt::format("true with target.grpc_endpoint '{}': plaintext is only for a local "
                          "emulator; set the emulator's endpoints or insecure = false",
                          t.grpc_endpoint));
  }
  if (!t.insecure && rest_http) {
    c.BadValue("target.rest_endpoint",
               "is plaintext http:// but target.insecure is false: credentials would be sent "
               "unencrypted (use https://, or insecure = true for an emulator)");
  }
  t.credentials_file = c.Str("target.credentials_file");
  if (!t.credentials_file.empty()) {
    if (t.insecure) {
      c.Problem("target.credentials_file",
                "set together with target.insecure = true (an emulator takes no credentials)");
    } else if (access(t.credentials_file.c_str(), R_OK) != 0) {
      c.BadValue("target.credentials_file",
                 fmt::format("cannot be read: {}", std::strerror(errno)));
    }
  }

  RuntimeConfig& rt = cfg->runtime;
  rt.state_dir = c.Str("agent.state_dir");
  if (rt.state_dir.empty()) c.Problem("agent.state_dir", "must not be empty");
  rt.metrics_address = c.Str("agent.metrics_address");
  if (!rt.metrics_address.empty()) {
    auto addr = ParseListenAddress(rt.metrics_address);
    if (!addr.ok()) c.BadValue("agent.metrics_address", addr.status().message());
  }
  rt.log_level = c.Enum<spdlog::level::level_enum>("agent.log_level",
                                                   {{"trace", spdlog::level::trace},
                                                    {"debug", spdlog::level::debug},
                                                    {"info", spdlog::level::info},
                                                    {"warn", spdlog::level::warn},
                                                    {"error", spdlog::level::err},
                                                    {"critical", spdlog::level::critical},
                                                    {"off", spdlog::level::off}},
                                                   rt.log_level);
  rt.log_format = c.Enum<LogFormat>(
      "agent.log_format", {{"text", LogFormat::kText}, {"json", LogFormat::kJson}}, rt.log_format);
  rt.shutdown_timeout = c.Duration("agent.shutdown_timeout", rt.shutdown_timeout);

  SpoolConfig& s = cfg->spool;
  s.dir = c.Str("spool.dir");
  if (s.dir.empty() && !rt.state_dir.empty()) s.dir = rt.state_dir + "/spool";
  s.budget_bytes = c.Size("spool.budget", s.budget_bytes);
  s.fsync = c.Enum<FsyncMode>(
      "spool.fsync",
      {{"always", FsyncMode::kAlways}, {"batch", FsyncMode::kBatch}, {"off", FsyncMode::kOff}},
      s.fsync);
  s.fsync_delay = c.Duration("spool.fsync_delay", s.fsync_delay);
  if (s.fsync_delay > std::chrono::seconds(10)) {
    c.BadValue("spool.fsync_delay", "is above 10s: changes would wait that long to be durable");
  }
  s.segment_bytes = c.Size("spool.segment_size", s.segment_bytes);
  if (s.segment_bytes < (1u << 20) || s.segment_bytes > (4ull << 30)) {
    c.BadValue("spool.segment_size", "must be between 1MiB and 4GiB");
  } else if (s.budget_bytes != 0 && s.budget_bytes < 2 * s.segment_bytes) {
    c.BadValue("spool.budget",
               fmt::format("is below two segments (2 x spool.segment_size = {} bytes); use 0 for "
                           "no budget",
                           2 * s.segment_bytes));
  }

  s.compression_level = static_cast<int>(c.Int("spool.compression_level", -7, 19, 1));

  FlushConfig& f = cfg->flush;
  f.batch_max_rows =
      static_cast<std::uint64_t>(c.Int("flush.batch_max_rows", 1, 10'000'000, 50000));
  f.batch_max_bytes = c.Size("flush.batch_max_bytes", f.batch_max_bytes);
  // The Storage Write API rejects an AppendRows request above 10 MB; keep headroom.
  constexpr std::uint64_t kMaxAppendBytes = 9'500'000;
  if (f.batch_max_bytes < 1024 || f.batch_max_bytes > kMaxAppendBytes) {
    c.BadValue("flush.batch_max_bytes",
               fmt::format("must be between 1KiB and {} bytes (AppendRows request limit)",
                           kMaxAppendBytes));
  }
  f.batch_max_latency = c.Duration("flush.batch_max_latency", f.batch_max_latency);
  if (f.batch_max_latency.count() == 0) {
    c.BadValue("flush.batch_max_latency", "must be above 0 (a batch must be sent eventually)");
  }
  f.parallelism = static_cast<int>(c.Int("flush.parallelism", 1, 256, 4));

  SnapshotConfig& sn = cfg->snapshot;
  sn.copy = c.Enum<bool>("snapshot.initial", {{"copy", true}, {"skip", false}}, sn.copy);
  sn.workers = static_cast<int>(c.Int("snapshot.workers", 1, 64, 4));
  sn.chunk_bytes = c.Size("snapshot.chunk_size", sn.chunk_bytes);
  if (sn.chunk_bytes < 8192) c.BadValue("snapshot.chunk_size", "must be at least one page (8KiB)");
  sn.poll_interval = c.Duration("snapshot.poll_interval", sn.poll_interval);
  if (sn.poll_interval < std::chrono::milliseconds(100)) {
    c.BadValue("snapshot.poll_interval", "must be at least 100ms");
  }
  sn.held_budget_bytes = c.Size("snapshot.held_budget", sn.held_budget_bytes);
}

}  // namespace

std::string SourceConfig::ConnInfo() const {
  return RenderConnInfo(params, /*redact=*/false);
}
std::string SourceConfig::RedactedConnInfo() const {
  return RenderConnInfo(params, true);
}
std::string SourceConfig::Param(std::string_view keyword) const {
  for (const auto& [k, v] : params) {
    if (k == keyword) return v;
  }
  return "";
}

bool GlobMatch(std::string_view pattern, std::string_view text) {
  std::size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*')
    ++p;
  return p == pattern.size();
}

bool TablesConfig::Selected(std::string_view schema, std::string_view table) const {
  std::string name = std::string(schema) + "." + std::string(table);
  auto matches = [&](const std::vector<std::string>& patterns) {
    return std::any_of(patterns.begin(), patterns.end(),
                       [&](const std::string& p) { return GlobMatch(p, name); });
  };
  if (!include.empty() && !matches(include)) return false;
  return !matches(exclude);
}

Result<std::uint64_t> ParseByteSize(std::string_view text) {
  std::string s = Trim(text);
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec == std::errc::result_out_of_range) return Status::InvalidArgument("is too large");
  if (ec != std::errc() || end == s.data()) {
    return Status::InvalidArgument("is not a size (examples: 4096, 512MiB, 10GiB, 1GB)");
  }
  std::string unit = Lower(Trim(std::string_view(end, s.data() + s.size() - end)));
  static const std::pair<const char*, std::uint64_t> kUnits[] = {
      {"", 1},
      {"b", 1},
      {"kib", 1ull << 10},
      {"mib", 1ull << 20},
      {"gib", 1ull << 30},
      {"tib", 1ull << 40},
      {"kb", 1000ull},
      {"mb", 1000'000ull},
      {"gb", 1000'000'000ull},
      {"tb", 1000'000'000'000ull},
  };
  for (const auto& [name, factor] : kUnits) {
    if (unit == name) {
      if (n > std::numeric_limits<std::uint64_t>::max() / factor) {
        return Status::InvalidArgument("is too large");
      }
      return n * factor;
    }
  }
  return Status::InvalidArgument(
      "has an unknown unit (use B, KiB, MiB, GiB, TiB or KB, MB, GB, TB)");
}

Result<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  std::string s = Trim(text);
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || end == s.data()) {
    return Status::InvalidArgument("is not a duration (examples: 250ms, 10s, 5m, 1h)");
  }
  std::string unit = Lower(Trim(std::string_view(end, s.data() + s.size() - end)));
  std::uint64_t factor = 0;
  if (unit == "ms") {
    factor = 1;
  } else if (unit == "s") {
    factor = 1000;
  } else if (unit == "m" || unit == "min") {
    factor = 60'000;
  } else if (unit == "h") {
    factor = 3'600'000;
  } else if (unit.empty() && n == 0) {
    return std::chrono::milliseconds(0);
  } else if (unit.empty()) {
    return Status::InvalidArgument("needs a unit (ms, s, m or h), e.g. 10s");
  } else {
    return Status::InvalidArgument("has an unknown unit (use ms, s, m or h)");
  }
  // Longer than 100 days is a typo, and keeps the arithmetic far from overflow.
  if (n > 100ull * 24 * 3'600'000 / factor) return Status::InvalidArgument("is too long");
  return std::chrono::milliseconds(n * factor);
}

std::map<std::string, std::string> ProcessEnvironment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    auto eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

ConfigLoadResult LoadAgentConfig(const ConfigInputs& inputs) {
  ConfigLoadResult result;
  std::vector<std::string>& problems = result.problems;
  const po::options_description desc = BuildDescription();

  // 1. Command line.
  SourceValues from_cli;
  std::string config_path;
  try {
    // "--key=" means an empty value (e.g. --agent.metrics_address= to disable the
    // endpoint); Boost wants the value after the '=', so pass it as its own token.
    std::vector<std::string> args;
    for (const std::string& a : inputs.args) {
      if (a.size() > 3 && a.rfind("--", 0) == 0 && a.back() == '=' && a.find('=') == a.size() - 1) {
        args.push_back(a.substr(0, a.size() - 1));
        args.emplace_back();
      } else {
        args.push_back(a);
      }
    }
    po::parsed_options parsed =
        po::command_line_parser(args)
            .options(desc)
            .style(po::command_line_style::default_style & ~po::command_line_style::allow_guessing)
            .allow_unregistered()
            .run();
    for (const po::option& o : parsed.options) {
      if (o.position_key != -1) {
        problems.push_back(
            fmt::format("unexpected argument '{}'", o.value.empty() ? "" : o.value[0]));
        continue;
      }
      if (o.unregistered) {
        problems.push_back(
            fmt::format("{}: unknown option (see --help for the keys)",
                        o.original_tokens.empty() ? o.string_key : o.original_tokens[0]));
        continue;
      }
      if (o.string_key == "config") {
        config_path = o.value.empty() ? "" : o.value[0];
        continue;
      }
      Record(&from_cli, &problems, o.string_key, o.value,
             {ConfigOrigin::Kind::kCommandLine, "--" + o.string_key});
    }
  } catch (const po::error& e) {
    problems.push_back(fmt::format("command line: {}", e.what()));
  }

  // 2. Environment.
  SourceValues from_env;
  std::map<std::string, std::string> key_of_env;
  for (const KeySpec& s : KeySpecs())
    key_of_env[EnvNameOf(s.name)] = s.name;
  for (const auto& [name, value] : inputs.env) {
    if (name.rfind(kEnvPrefix, 0) != 0) continue;
    if (name == "PG2BQ_CONFIG") {
      if (config_path.empty()) config_path = value;
      continue;
    }
    auto it = key_of_env.find(name);
    if (it == key_of_env.end()) {
      // PG2BQ_* is also used by test tooling (PG2BQ_PG_BINDIR...): warn, do not fail.
      result.warnings.push_back(fmt::format("env {}: not a configuration key (ignored)", name));
      continue;
    }
    Record(&from_env, &problems, it->second, {value}, {ConfigOrigin::Kind::kEnv, "env " + name});
  }

  // 3. Config file.
  SourceValues from_file;
  result.config.config_file = config_path;
  if (!config_path.empty()) {
    std::ifstream in(config_path, std::ios::binary);
    if (!in) {
      problems.push_back(
          fmt::format("config file {}: cannot open: {}", config_path, std::strerror(errno)));
    } else {
      std::stringstream buf;
      buf << in.rdbuf();
      const std::string text = buf.str();
      FileScan scan = ScanConfigFile(config_path, text);
      problems.insert(problems.end(), scan.syntax_problems.begin(), scan.syntax_problems.end());
      {
        try {
          std::istringstream stream(WithoutLines(text, scan.broken_lines));
          po::parsed_options parsed =
              po::parse_config_file(stream, desc, /*allow_unregistered=*/true);
          std::map<std::string, std::size_t> seen;  // occurrence index per key -> line number
          for (const po::option& o : parsed.options) {
            std::size_t index = seen[o.string_key]++;
            const auto& lines = scan.lines_of_key[o.string_key];
            std::string where = index < lines.size()
                                    ? fmt::format("{}:{}", config_path, lines[index])
                                    : config_path;
            if (o.unregistered || o.string_key == "config") {
              problems.push_back(fmt::format("{}: unknown key '{}'", where, o.string_key));
              continue;
            }
            Record(&from_file, &problems, o.string_key, o.value,
                   {ConfigOrigin::Kind::kFile, where});
          }
        } catch (const po::error& e) {
          problems.push_back(fmt::format("config file {}: {}", config_path, e.what()));
        }
      }
    }
  }

  // A password in a file others can read is readable by every local user.
  struct stat st {};
  if (!config_path.empty() && stat(config_path.c_str(), &st) == 0 && (st.st_mode & S_IROTH)) {
    for (const auto& [key, setting] : from_file) {
      const KeySpec* spec = FindKey(key);
      bool secret_in_dsn = key == "source.dsn" && setting.values.size() == 1 &&
                           RedactDsn(setting.values[0]).find(kMaskedSecret) != std::string::npos;
      if ((spec != nullptr && spec->secret) || secret_in_dsn) {
        result.warnings.push_back(fmt::format(
            "{}: {} holds a secret but the file is readable by all users (chmod 600, or use env "
            "PG2BQ_SOURCE_PASSWORD / a passfile)",
            setting.origin.where, key));
      }
    }
  }

  // 4. Merge: the highest-precedence source wins per key.
  for (const KeySpec& s : KeySpecs()) {
    ConfigSetting setting;
    if (auto it = from_cli.find(s.name); it != from_cli.end()) {
      setting = it->second;
    } else if (auto e = from_env.find(s.name); e != from_env.end()) {
      setting = e->second;
    } else if (auto f = from_file.find(s.name); f != from_file.end()) {
      setting = f->second;
    } else {
      setting.origin = {ConfigOrigin::Kind::kDefault, "default"};
      if (!s.list || !s.default_value.empty()) setting.values = {s.default_value};
    }
    result.config.settings[s.name] = std::move(setting);
  }

  // 5. Types and relations between keys.
  Converter converter(result.config.settings, &problems);
  ConvertAll(converter, &result.config);
  return result;
}

std::string RenderEffectiveConfig(const AgentConfig& config) {
  std::string out = "# pg2bq effective configuration";
  if (!config.config_file.empty()) out += " (file " + config.config_file + ")";
  out += "\n# precedence: command line > env PG2BQ_* > file > default; secrets redacted\n";
  for (const char* section : kSections) {
    out += fmt::format("\n[{}]\n", section);
    if (std::string_view(section) == "source") {
      out += "# effective libpq parameters: " + config.source.RedactedConnInfo() + "\n";
    }
    if (std::string_view(section) == "spool") {
      out += "# effective spool directory: " + config.spool.dir + "\n";
    }
    for (const KeySpec& s : KeySpecs()) {
      if (s.name.compare(0, std::strlen(section) + 1, std::string(section) + ".") != 0) continue;
      auto it = config.settings.find(s.name);
      if (it == config.settings.end()) continue;
      const ConfigSetting& setting = it->second;
      // Unset libpq keys would be dozens of empty lines.
      if (s.libpq && setting.origin.kind == ConfigOrigin::Kind::kDefault) continue;
      std::string name = s.name.substr(std::strlen(section) + 1);
      if (setting.values.empty()) {  // an empty list; "name =" would read back as [""]
        out += fmt::format("# {:<18} = {:<40} # {}\n", name, "(none)", setting.origin.where);
        continue;
      }
      const std::vector<std::string>& values = setting.values;
      for (std::size_t i = 0; i < values.size(); ++i) {
        const std::string& where =
            i < setting.value_origins.size() ? setting.value_origins[i] : setting.origin.where;
        out += fmt::format("{:<20} = {:<40} # {}\n", name, RedactedValue(&s, values[i]), where);
      }
    }
  }
  return out;
}

bool IsReloadableKey(std::string_view key) {
  const KeySpec* s = FindKey(key);
  return s != nullptr && s->reloadable;
}

std::vector<std::string> NonReloadableChanges(const AgentConfig& before, const AgentConfig& after) {
  std::vector<std::string> changed;
  for (const KeySpec& s : KeySpecs()) {
    if (s.reloadable) continue;
    auto a = before.settings.find(s.name);
    auto b = after.settings.find(s.name);
    std::vector<std::string> va =
        a == before.settings.end() ? std::vector<std::string>{} : a->second.values;
    std::vector<std::string> vb =
        b == after.settings.end() ? std::vector<std::string>{} : b->second.values;
    if (va != vb) changed.push_back(s.name);
  }
  return changed;
}

std::string ConfigKeysHelp() {
  std::string out = "  --config FILE                     config file (or env PG2BQ_CONFIG)\n";
  bool libpq_listed = false;
  for (const KeySpec& s : KeySpecs()) {
    if (s.libpq) {
      if (!libpq_listed) {
        out +=
            "  --source.<keyword> VALUE          any libpq parameter (host, port, dbname, "
            "user, password,\n                                    sslmode, sslrootcert, "
            "...); overrides source.dsn\n";
        libpq_listed = true;
      }
      continue;
    }
    std::string flag = "--" + s.name + (s.list ? " PATTERN..." : " VALUE");
    out += fmt::format("  {:<33} {}", flag, s.help);
    if (!s.default_value.empty()) out += fmt::format(" [default: {}]", s.default_value);
    out += "\n";
  }
  out +=
      "Every key is also read from the config file ([section] name = value) and from\n"
      "env PG2BQ_<SECTION>_<NAME>; precedence: command line > env > file > default.\n";
  return out;
}

const char* FsyncModeName(FsyncMode m) {
  switch (m) {
    case FsyncMode::kAlways:
      return "always";
    case FsyncMode::kBatch:
      return "batch";
    case FsyncMode::kOff:
      return "off";
  }
  return "?";
}
const char* LogFormatName(LogFormat f) {
  return f == LogFormat::kJson ? "json" : "text";
}
const char* LogicalMessageModeName(LogicalMessageMode m) {
  return m == LogicalMessageMode::kPass ? "pass" : "ignore";
}
const char* TruncateModeName(TruncateMode m) {
  switch (m) {
    case TruncateMode::kDeleteKeys:
      return "delete";
    case TruncateMode::kIgnore:
      return "ignore";
    case TruncateMode::kFail:
      return "fail";
  }
  return "?";
}
const char* TableModeName(TableMode m) {
  return m == TableMode::kCdc ? "cdc" : "changelog";
}

}  // namespace pg2bq::agent
