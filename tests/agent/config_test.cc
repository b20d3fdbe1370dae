#include "agent/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

namespace pg2bq::agent {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using namespace std::chrono_literals;

class ConfigTest : public ::testing::Test {
 protected:
  // Writes `text` to a fresh file and returns its path.
  std::string WriteFile(const std::string& text) {
    std::string path = ::testing::TempDir() + "pg2bq_config_test_" + std::to_string(getpid()) +
                       "_" + std::to_string(counter_++) + ".conf";
    std::ofstream(path) << text;
    files_.push_back(path);
    return path;
  }
  void TearDown() override {
    for (const auto& f : files_)
      unlink(f.c_str());
  }

  static ConfigLoadResult Load(std::vector<std::string> args,
                               std::map<std::string, std::string> env = {}) {
    return LoadAgentConfig(ConfigInputs{std::move(args), std::move(env)});
  }
  // The minimum a valid configuration needs.
  static std::vector<std::string> Required() {
    return {"--target.project=proj-1", "--target.dataset=ds"};
  }

  static std::string Joined(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& l : lines)
      out += l + "\n";
    return out;
  }

  int counter_ = 0;
  std::vector<std::string> files_;
};

TEST_F(ConfigTest, DefaultsNeedOnlyProjectAndDataset) {
  ConfigLoadResult r = Load(Required());
  ASSERT_TRUE(r.ok()) << Joined(r.problems);
  const AgentConfig& c = r.config;
  EXPECT_EQ(c.replication.slot, "pg2bq");
  EXPECT_EQ(c.replication.publication, "pg2bq");
  EXPECT_TRUE(c.replication.create_slot);
  EXPECT_FALSE(c.replication.create_publication);
  EXPECT_EQ(c.replication.heartbeat_interval, 0ms);
  EXPECT_EQ(c.replication.logical_messages, LogicalMessageMode::kIgnore);
  EXPECT_THAT(c.tables.include, IsEmpty());
  EXPECT_EQ(c.target.table_name, "{schema_}{table}");
  EXPECT_EQ(c.target.mode, TableMode::kCdc);
  EXPECT_EQ(c.target.truncate, TruncateMode::kDeleteKeys);
  EXPECT_EQ(c.target.grpc_endpoint, "bigquerystorage.googleapis.com:443");
  EXPECT_FALSE(c.target.insecure);
  EXPECT_EQ(c.spool.dir, "/var/lib/pg2bq/spool");
  EXPECT_EQ(c.spool.budget_bytes, 10ull << 30);
  EXPECT_EQ(c.spool.fsync, FsyncMode::kBatch);
  EXPECT_EQ(c.spool.segment_bytes, 64ull << 20);
  EXPECT_EQ(c.spool.compression_level, 1);
  EXPECT_EQ(c.flush.batch_max_rows, 50000u);
  EXPECT_EQ(c.flush.batch_max_bytes, 8ull << 20);
  EXPECT_EQ(c.flush.batch_max_latency, 250ms);
  EXPECT_EQ(c.flush.parallelism, 4);
  EXPECT_EQ(c.runtime.metrics_address, "127.0.0.1:9187");
  EXPECT_EQ(c.runtime.log_level, spdlog::level::info);
  EXPECT_EQ(c.runtime.log_format, LogFormat::kText);
  EXPECT_EQ(c.runtime.shutdown_timeout, 30s);
  EXPECT_EQ(c.settings.at("replication.slot").origin.kind, ConfigOrigin::Kind::kDefault);
  EXPECT_EQ(c.settings.at("target.project").origin.where, "--target.project");
}

TEST_F(ConfigTest, MissingRequiredKeysAreAllReported) {
  ConfigLoadResult r = Load({});
  EXPECT_THAT(r.problems, ElementsAre(HasSubstr("target.project: required"),
                                      HasSubstr("target.dataset: required")));
}

// The shipped example must always load: it is what operators copy.
TEST_F(ConfigTest, ShippedExampleLoads) {
  ConfigLoadResult r = Load({"--config", PG2BQ_CONFIG_EXAMPLE});
  ASSERT_TRUE(r.ok()) << Joined(r.problems);
  const AgentConfig& c = r.config;
  EXPECT_EQ(c.source.Param("host"), "db.internal");
  EXPECT_EQ(c.source.Param("sslmode"), "verify-full");
  EXPECT_EQ(c.source.Param("application_name"), "pg2bq");
  EXPECT_THAT(c.tables.include, ElementsAre("public.*", "billing.invoices"));
  EXPECT_THAT(c.tables.exclude, ElementsAre("public.*_tmp"));
  EXPECT_EQ(c.target.project, "my-gcp-project");
  EXPECT_EQ(c.replication.heartbeat_interval, 60s);
  EXPECT_EQ(c.spool.budget_bytes, 10ull << 30);
  EXPECT_THAT(c.settings.at("target.dataset").origin.where,
              AllOf(HasSubstr("pg2bq.conf.example:"), Not(HasSubstr("pg2bq.conf.example:0"))));
}

TEST_F(ConfigTest, PrecedenceIsCommandLineThenEnvThenFileThenDefault) {
  std::string file = WriteFile(
      "[replication]\nslot = from_file\npublication = pub_file\n"
      "[target]\nproject = p\ndataset = d\n[spool]\nfsync = always\n");
  std::map<std::string, std::string> env = {{"PG2BQ_REPLICATION_SLOT", "from_env"},
                                            {"PG2BQ_REPLICATION_PUBLICATION", "pub_env"}};
  ConfigLoadResult r = Load({"--config", file, "--replication.slot=from_cli"}, env);
  ASSERT_TRUE(r.ok()) << Joined(r.problems);
  EXPECT_EQ(r.config.replication.slot, "from_cli");
  EXPECT_EQ(r.config.replication.publication, "pub_env");
  EXPECT_EQ(r.config.spool.fsync, FsyncMode::kAlways);
  EXPECT_EQ(r.config.flush.parallelism, 4);
  EXPECT_EQ(r.config.settings.at("replication.slot").origin.where, "--replication.slot");
  EXPECT_EQ(r.config.settings.at("replication.publication").origin.where,
            "env PG2BQ_REPLICATION_PUBLICATION");
  EXPECT_EQ(r.config.settings.at("spool.fsync").origin.where, file + ":8");
  EXPECT_EQ(r.config.settings.at("flush.parallelism").origin.where, "default");
}

TEST_F(ConfigTest, ConfigFileFromEnvironment) {
  std::string file = WriteFile("[target]\nproject = p\ndataset = d\n");
  ConfigLoadResult r = Load({}, {{"PG2BQ_CONFIG", file}});
  ASSERT_TRUE(r.ok()) << Joined(r.problems);
  EXPECT_EQ(r.config.config_file, file);
  EXPECT_EQ(r.config.target.dataset, "d");
}

TEST_F(ConfigTest, EveryProblemIsReportedWithItsOrigin) {
  std::string file = WriteFile(
      "# a comment\n"
      "[replication]\n"
      "slot = Bad-Slot\n"           // 3
      "heartbeat_interval = 10\n"   // 4
      "logical_messages = maybe\n"  // 5
      "[target]\n"
      "project = p\n"
      "dataset = d\n"
      "table_name = {db}_{table}\n"  // 9
      "[spool]\n"
      "budget = 10 parsecs\n"  // 11
      "fsync = sometimes\n"    // 12
      "colour = blue\n"        // 13
      "[flush]\n"
      "parallelism = 0\n"          // 15
      "batch_max_bytes = 64MiB\n"  // 16
      "[spool]\n"
      "compression_level = 22\n");  // 18
  ConfigLoadResult r =
      Load({"--config", file, "--agent.log_level=loud"}, {{"PG2BQ_SPOOL_FSYNC_DELAY", "forever"}});
  const std::string all = Joined(r.problems);
  EXPECT_THAT(
      r.problems,
      testing::UnorderedElementsAre(
          HasSubstr(file + ":3: replication.slot: 'Bad-Slot' is not a valid slot name"),
          HasSubstr(file + ":4: replication.heartbeat_interval: '10' needs a unit"),
          HasSubstr(file + ":5: replication.logical_messages: 'maybe' is not one of pass | ignore"),
          HasSubstr(file + ":9: target.table_name: '{db}_{table}' uses unknown placeholder '{db}'"),
          HasSubstr(file + ":11: spool.budget: '10 parsecs' has an unknown unit"),
          HasSubstr(file + ":12: spool.fsync: 'sometimes' is not one of always | batch | off"),
          HasSubstr(file + ":13: unknown key 'spool.colour'"),
          HasSubstr(file + ":15: flush.parallelism: '0' is out of range [1, 256]"),
          HasSubstr(file + ":16: flush.batch_max_bytes: '64MiB' must be between"),
          HasSubstr(file + ":18: spool.compression_level: '22' is out of range [-7, 19]"),
          HasSubstr("--agent.log_level: agent.log_level: 'loud' is not one of trace"),
          HasSubstr("env PG2BQ_SPOOL_FSYNC_DELAY: spool.fsync_delay: 'forever' is not a "
                    "duration")))
      << all;
}

TEST_F(ConfigTest, SyntaxErrorsNameTheLine) {
  std::string file = WriteFile(
      "[target]\nproject = p\nthis line has no equals sign\n= x\ndataset = d\n"
      "[spool]\nfsync = never\n");
  ConfigLoadResult r = Load({"--config", file});
  // The lines around a broken one are still read and checked.
  EXPECT_THAT(r.problems, ElementsAre(HasSubstr(file + ":3: expected 'key = value'"),
                                      HasSubstr(file + ":4: missing key name"),
                                      HasSubstr(file + ":7: spool.fsync: 'never' is not one of")));
}

TEST_F(ConfigTest, ScalarKeyGivenTwiceInOneFileIsAProblem) {
  std::string file = WriteFile("[target]\nproject = p\ndataset = d\nproject = q\n");
  ConfigLoadResult r = Load({"--config", file});
  EXPECT_THAT(r.problems, ElementsAre(HasSubstr(file +
                                                ":4: target.project: given more than once "
                                                "(first at " +
                                                file + ":2)")));
}

TEST_F(ConfigTest, UnreadableFileAndUnknownOptions) {
  ConfigLoadResult r =
      Load({"--config", "/nonexistent/pg2bq.conf", "--spool.colour=blue", "stray"});
  EXPECT_THAT(r.problems, testing::Contains(HasSubstr("config file /nonexistent/pg2bq.conf: "
                                                      "cannot open: No such file")));
  EXPECT_THAT(r.problems, testing::Contains(HasSubstr("--spool.colour=blue: unknown option")));
  EXPECT_THAT(r.problems, testing::Contains(HasSubstr("unexpected argument 'stray'")));
}

TEST_F(ConfigTest, AbbreviatedOptionsAreNotGuessed) {
  ConfigLoadResult r = Load({"--target.project=p", "--target.dataset=d", "--spool.fsy=off"});
  EXPECT_THAT(r.problems, ElementsAre(HasSubstr("--spool.fsy=off: unknown option")));
}

TEST_F(ConfigTest, UnknownPg2bqEnvironmentVariableIsOnlyAWarning) {
  ConfigLoadResult r = Load(Required(), {{"PG2BQ_SPOOL_BUDGT", "1GiB"}, {"HOME", "/root"}});
  EXPECT_TRUE(r.ok());
  EXPECT_THAT(r.warnings, ElementsAre(HasSubstr("env PG2BQ_SPOOL_BUDGT: not a configuration key")));
}

TEST_F(ConfigTest, ListsFromRepeatsAndCommasAndHigherSourceReplaces) {
  std::string file = WriteFile(
      "[tables]\ninclude = public.a, public.b\ninclude = app.*\nexclude = app.tmp_*\n"
      "[target]\nproject = p\ndataset = d\n");
  ConfigLoadResult r = Load({"--config", file});
  ASSERT_TRUE(r.ok()) << Joined(r.problems);
  EXPECT_THAT(r.config.tables.include, ElementsAre("public.a", "public.b", "app.*"));
  // Each value keeps the line it came from.
  EXPECT_THAT(RenderEffectiveConfig(r.config),
              AllOf(HasSubstr("= public.a, public.b"),
                    HasSubstr("# " + file + ":2\ninclude              = app.*"),
                    HasSubstr("# " + file + ":3\nexclude")));
  r = Load({"--config", file, "--tables.include=x.y", "--tables.include", "z.*"});
  ASSERT_TRUE(r.ok()) << Joined(r.problems);
  EXPECT_THAT(r.config.tables.include, ElementsAre("x.y", "z.*"));
  EXPECT_THAT(r.config.tables.exclude, ElementsAre("app.tmp_*"));

  r = Load({"--target.project=p", "--target.dataset=d", "--tables.include=orders"});
  EXPECT_THAT(r.problems, ElementsAre(HasSubstr("tables.include: 'orders' is not schema.table")));
}

TEST_F(ConfigTest, TableSelectionAndNaming) {
  TablesConfig t;
  EXPECT_TRUE(t.Selected("public", "anything"));
  t.include = {"public.*", "billing.invoices"};
  t.exclude = {"public.*_tmp", "public.secret?"};
  EXPECT_TRUE(t.Selected("public", "orders"));
  EXPECT_TRUE(t.Selected("billing", "invoices"));
  EXPECT_FALSE(t.Selected("billing", "payments"));
  EXPECT_FALSE(t.Selected("public", "orders_tmp"));
  EXPECT_FALSE(t.Selected("public", "secret1"));
  EXPECT_TRUE(t.Selected("public", "secret12"));
  EXPECT_FALSE(t.Selected("Public", "orders"));  // case-sensitive, like quoted identifiers
}

TEST_F(ConfigTest, GlobMatch) {
  EXPECT_TRUE(GlobMatch("*", ""));
  EXPECT_TRUE(GlobMatch("a*b*c", "axxbyyc"));
  EXPECT_TRUE(GlobMatch("a*b*c", "abc"));
  EXPECT_FALSE(GlobMatch("a*b*c", "axxbyy"));
  EXPECT_TRUE(GlobMatch("a?c", "abc"));
  EXPECT_FALSE(GlobMatch("a?c", "ac"));
  EXPECT_TRUE(GlobMatch("*.*", "s.t"));
  EXPECT_FALSE(GlobMatch("public.x", "public.xy"));
}

TEST_F(ConfigTest, TableNameTemplateValidation) {
  auto problems_for = [&](const std::string& tmpl) {
    return Load({"--target.project=p", "--target.dataset=d", "--target.table_name=" + tmpl})
        .problems;
  };
  EXPECT_THAT(problems_for("{schema}__{table}"), IsEmpty());
  EXPECT_THAT(problems_for("pg_{schema_}{table}"), IsEmpty());
  EXPECT_THAT(problems_for("{schema}"), ElementsAre(HasSubstr("must contain {table}")));
  EXPECT_THAT(problems_for("t.{table}"), ElementsAre(HasSubstr("contains '.'")));
  EXPECT_THAT(problems_for("{table"), ElementsAre(HasSubstr("unclosed")));
}

TEST_F(ConfigTest, ByteSizes) {
  EXPECT_EQ(*ParseByteSize("4096"), 4096u);
  EXPECT_EQ(*ParseByteSize("0"), 0u);
  EXPECT_EQ(*ParseByteSize("10GiB"), 10ull << 30);
  EXPECT_EQ(*ParseByteSize("10 gib"), 10ull << 30);
  EXPECT_EQ(*ParseByteSize("512MiB"), 512ull << 20);
  EXPECT_EQ(*ParseByteSize("1KiB"), 1024u);
  EXPECT_EQ(*ParseByteSize("2TiB"), 2ull << 40);
  EXPECT_EQ(*ParseByteSize("1GB"), 1000000000u);
  EXPECT_EQ(*ParseByteSize("3kb"), 3000u);
  EXPECT_EQ(*ParseByteSize("7B"), 7u);
  EXPECT_FALSE(ParseByteSize("").ok());
  EXPECT_FALSE(ParseByteSize("GiB").ok());
  EXPECT_FALSE(ParseByteSize("-1").ok());
  EXPECT_FALSE(ParseByteSize("10G").ok());  // ambiguous: say GB or GiB
  EXPECT_FALSE(ParseByteSize("1.5GiB").ok());
  EXPECT_FALSE(ParseByteSize("99999999999TiB").ok());  // overflow
  EXPECT_FALSE(ParseByteSize("99999999999999999999999").ok());
}

TEST_F(ConfigTest, Durations) {
  EXPECT_EQ(*ParseDuration("250ms"), 250ms);
  EXPECT_EQ(*ParseDuration("10s"), 10s);
  EXPECT_EQ(*ParseDuration("5m"), 5min);
  EXPECT_EQ(*ParseDuration("5min"), 5min);
  EXPECT_EQ(*ParseDuration("2h"), 2h);
  EXPECT_EQ(*ParseDuration("0"), 0ms);
  EXPECT_EQ(*ParseDuration(" 3 s "), 3s);
  EXPECT_FALSE(ParseDuration("10").ok());
  EXPECT_FALSE(ParseDuration("10d").ok());
  EXPECT_FALSE(ParseDuration("s").ok());
  EXPECT_FALSE(ParseDuration("-1s").ok());
  EXPECT_FALSE(ParseDuration("100000h").ok());
}

TEST_F(ConfigTest, BooleansAcceptTheUsualSpellings) {
  for (const char* yes : {"true", "TRUE", "yes", "on", "1"}) {
    auto r = Load({"--target.project=p", "--target.dataset=d",
                   std::string("--replication.create_publication=") + yes});
    ASSERT_TRUE(r.ok()) << yes;
    EXPECT_TRUE(r.config.replication.create_publication) << yes;
  }
  auto r = Load({"--target.project=p", "--target.dataset=d", "--replication.create_slot=off"});
  EXPECT_FALSE(r.config.replication.create_slot);
  r = Load({"--target.project=p", "--target.dataset=d", "--replication.create_slot=nope"});
  EXPECT_THAT(r.problems, ElementsAre(HasSubstr("'nope' is not a boolean")));
}

TEST_F(ConfigTest, SourceDsnAndIndividualKeysMergeAndSecretsStayHidden) {
  ConfigLoadResult r =
      Load({"--target.project=p", "--target.dataset=d",
            "--source.dsn=postgresql://repl:s3cr3t-dsn@db.example:6543/app?sslmode=require",
            "--source.sslmode=verify-full"},
           {{"PG2BQ_SOURCE_SSLPASSWORD", "k3y-pass"}});
  ASSERT_TRUE(r.ok()) << Joined(r.problems);
  const SourceConfig& s = r.config.source;
  EXPECT_EQ(s.Param("host"), "db.example");
  EXPECT_EQ(s.Param("port"), "6543");
  EXPECT_EQ(s.Param("user"), "repl");
  EXPECT_EQ(s.Param("dbname"), "app");
  EXPECT_EQ(s.Param("sslmode"), "verify-full");  // the individual key wins over the DSN
  EXPECT_THAT(s.ConnInfo(),
              AllOf(HasSubstr("password='s3cr3t-dsn'"), HasSubstr("host='db.example'"),
                    HasSubstr("sslpassword='k3y-pass'")));
  for (const std::string& shown : {s.RedactedConnInfo(), RenderEffectiveConfig(r.config)}) {
    EXPECT_THAT(shown, Not(HasSubstr("s3cr3t")));
    EXPECT_THAT(shown, Not(HasSubstr("k3y-pass")));
    EXPECT_THAT(shown, HasSubstr("host='db.example'"));
  }
  EXPECT_THAT(s.RedactedConnInfo(), HasSubstr("password='********'"));
}

TEST_F(ConfigTest, WarnsAboutSecretsInAWorldReadableFile) {
  std::string file = WriteFile(
      "[source]\ndsn = host=x password=pw1\npassword = pw2\n[target]\nproject = p\ndataset = d\n");
  ASSERT_EQ(chmod(file.c_str(), 0644), 0);
  ConfigLoadResult r = Load({"--config", file});
  ASSERT_TRUE(r.ok()) << Joined(r.problems);
  EXPECT_THAT(r.warnings,
              testing::UnorderedElementsAre(
                  HasSubstr(file + ":2: source.dsn holds a secret but the file is readable by all"),
                  HasSubstr(file + ":3: source.password holds a secret")));
  EXPECT_THAT(Joined(r.warnings), Not(HasSubstr("pw")));
  ASSERT_EQ(chmod(file.c_str(), 0600), 0);
  EXPECT_THAT(Load({"--config", file}).warnings, IsEmpty());
}

TEST_F(ConfigTest, PasswordKeyIsRedactedEverywhere) {
  ConfigLoadResult r = Load({"--target.project=p", "--target.dataset=d",
                             "--source.password=hunter2", "--source.sslmode=sometimes"});
  EXPECT_THAT(r.problems, ElementsAre(HasSubstr("--source.sslmode: source.sslmode: sslmode "
                                                "'sometimes' is not one of")));
  EXPECT_THAT(RenderEffectiveConfig(r.config),
              AllOf(Not(HasSubstr("hunter2")), HasSubstr("password             = <redacted>")));
}

TEST_F(ConfigTest, SourceProblems) {
  auto problems =
      Load({"--target.project=p", "--target.dataset=d", "--source.dsn=host=x nosuchparam=1"})
          .problems;
  EXPECT_THAT(problems, ElementsAre(HasSubstr("source.dsn: not a valid libpq connection string: "
                                              "invalid connection option \"nosuchparam\"")));
  problems = Load({"--target.project=p", "--target.dataset=d",
                   "--source.dsn=host=a,b port=5432,99999 replication=database connect_timeout=x"})
                 .problems;
  EXPECT_THAT(problems, testing::UnorderedElementsAre(
                            HasSubstr("do not set 'replication'"),
                            HasSubstr("source.dsn: port '99999' is not a TCP port"),
                            HasSubstr("source.dsn: connect_timeout 'x' is not a number")));
}

TEST_F(ConfigTest, EndpointRules) {
  auto problems = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = Required();
    args.insert(args.end(), extra.begin(), extra.end());
    return Load(args).problems;
  };
  EXPECT_THAT(problems({"--target.grpc_endpoint=127.0.0.1:9060",
                        "--target.rest_endpoint=http://127.0.0.1:9050", "--target.insecure=true"}),
              IsEmpty());
  EXPECT_THAT(problems({"--target.insecure=true"}),
              ElementsAre(HasSubstr("plaintext is only for a local emulator")));
  EXPECT_THAT(problems({"--target.rest_endpoint=http://bq.internal"}),
              ElementsAre(HasSubstr("credentials would be sent unencrypted")));
  EXPECT_THAT(problems({"--target.grpc_endpoint=nohostport"}), ElementsAre(HasSubstr("host:port")));
  EXPECT_THAT(problems({"--target.rest_endpoint=ftp://x"}), ElementsAre(HasSubstr("https://")));
  EXPECT_THAT(problems({"--target.credentials_file=/nonexistent/key.json"}),
              ElementsAre(HasSubstr("cannot be read: No such file")));
  EXPECT_THAT(problems({"--agent.metrics_address=localhost"}),
              ElementsAre(HasSubstr("agent.metrics_address: 'localhost' is not host:port")));
  EXPECT_THAT(problems({"--agent.metrics_address="}), IsEmpty());  // disabled
  EXPECT_THAT(problems({"--spool.budget=64MiB"}), ElementsAre(HasSubstr("below two segments")));
  EXPECT_THAT(problems({"--spool.budget=0", "--spool.dir=/srv/spool"}), IsEmpty());
}

TEST_F(ConfigTest, EffectiveConfigRoundTripsThroughAFile) {
  ConfigLoadResult first = Load({"--config", PG2BQ_CONFIG_EXAMPLE, "--spool.fsync=always"});
  ASSERT_TRUE(first.ok()) << Joined(first.problems);
  std::string rendered = RenderEffectiveConfig(first.config);
  EXPECT_THAT(rendered, HasSubstr("fsync                = always"));
  EXPECT_THAT(rendered, HasSubstr("# --spool.fsync"));
  ConfigLoadResult second = Load({"--config", WriteFile(rendered)});
  ASSERT_TRUE(second.ok()) << Joined(second.problems) << rendered;
  // The DSN is shown re-rendered by libpq (and redacted), so compare its effect.
  EXPECT_EQ(second.config.source.ConnInfo(), first.config.source.ConnInfo());
  for (const auto& [key, setting] : first.config.settings) {
    if (key == "source.dsn") continue;
    EXPECT_EQ(second.config.settings.at(key).values, setting.values) << key;
  }
}

TEST_F(ConfigTest, ReloadableKeys) {
  ConfigLoadResult a = Load(Required());
  std::vector<std::string> args = Required();
  args.push_back("--agent.log_level=debug");
  args.push_back("--flush.batch_max_latency=1s");
  ConfigLoadResult b = Load(args);
  EXPECT_THAT(NonReloadableChanges(a.config, b.config), IsEmpty());
  args.push_back("--replication.slot=other");
  args.push_back("--spool.budget=20GiB");
  ConfigLoadResult c = Load(args);
  EXPECT_THAT(NonReloadableChanges(a.config, c.config),
              ElementsAre("replication.slot", "spool.budget"));
  EXPECT_TRUE(IsReloadableKey("agent.log_level"));
  EXPECT_FALSE(IsReloadableKey("source.host"));
}

TEST_F(ConfigTest, HelpListsKeysWithDefaults) {
  std::string help = ConfigKeysHelp();
  EXPECT_THAT(help, HasSubstr("--spool.budget VALUE"));
  EXPECT_THAT(help, HasSubstr("[default: 10GiB]"));
  EXPECT_THAT(help, HasSubstr("--source.<keyword>"));
  EXPECT_THAT(help, HasSubstr("--tables.include PATTERN..."));
}

}  // namespace

// `pg2bq config check`: exit codes and what reaches stdout/stderr.
int RunConfigCommand(int argc, char** argv);  // config_command.cc

namespace {

int RunCheck(std::vector<std::string> args, std::string* out, std::string* err) {
  args.insert(args.begin(), {"config", "check"});
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  int rc = RunConfigCommand(static_cast<int>(argv.size()), argv.data());
  *out = ::testing::internal::GetCapturedStdout();
  *err = ::testing::internal::GetCapturedStderr();
  return rc;
}

TEST(ConfigCommandTest, ValidConfigPrintsRedactedEffectiveValues) {
  std::string out, err;
  int rc = RunCheck({"--config", PG2BQ_CONFIG_EXAMPLE, "--source.password=hunter2"}, &out, &err);
  EXPECT_EQ(rc, 0) << err;
  EXPECT_THAT(out, HasSubstr("[target]"));
  EXPECT_THAT(out, HasSubstr("password             = <redacted>"));
  EXPECT_THAT(out + err, Not(HasSubstr("hunter2")));
  EXPECT_THAT(err, HasSubstr("configuration is valid"));
}

TEST(ConfigCommandTest, InvalidConfigListsEveryProblemAndExitsOne) {
  std::string out, err;
  int rc = RunCheck({"--spool.fsync=never", "--source.password=hunter2", "--source.sslmode=x"},
                    &out, &err);
  EXPECT_EQ(rc, 1);
  EXPECT_THAT(err, AllOf(HasSubstr("error: --spool.fsync: spool.fsync: 'never'"),
                         HasSubstr("error: target.project: required"),
                         HasSubstr("error: --source.sslmode:"), HasSubstr("problems; nothing")));
  EXPECT_THAT(out + err, Not(HasSubstr("hunter2")));
  EXPECT_EQ(out, "");
}

TEST(ConfigCommandTest, UsageErrorsExitTwo) {
  std::string out, err;
  std::string name = "config";
  char* argv[] = {name.data()};
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(RunConfigCommand(1, argv), 2);
  EXPECT_THAT(::testing::internal::GetCapturedStderr(), HasSubstr("Usage: pg2bq config check"));
  std::string verb = "frobnicate";
  char* argv2[] = {name.data(), verb.data()};
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(RunConfigCommand(2, argv2), 2);
  EXPECT_THAT(::testing::internal::GetCapturedStderr(), HasSubstr("unknown verb 'frobnicate'"));
  EXPECT_EQ(RunCheck({"--help"}, &out, &err), 0);
  EXPECT_THAT(out, HasSubstr("--spool.budget VALUE"));
}

}  // namespace
}  // namespace pg2bq::agent
