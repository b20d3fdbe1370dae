// Checks the test harness itself: a cluster starts with the settings tests rely on,
// password auth over TCP is enforced, restart works, and the temp dir disappears both on
// normal teardown and when the owning process dies without running destructors.
#include "tests/support/pg_test_cluster.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

namespace pg2bq::testing {
namespace {

TEST(PgTestClusterTest, StartsWithLogicalReplicationSettings) {
  auto cluster = PgTestCluster::Start();
  ASSERT_TRUE(cluster.ok()) << cluster.status().ToString();
  auto& pg = **cluster;
  EXPECT_EQ(pg.QueryValue("SHOW wal_level").value(), "logical");
  EXPECT_EQ(pg.QueryValue("SHOW logical_decoding_work_mem").value(), "64kB");
  EXPECT_EQ(pg.QueryValue("SHOW server_version_num").value().substr(0, 2), "15");
  EXPECT_EQ(pg.QueryValue("SELECT inet_server_port()").value(), std::to_string(pg.port()));
  // The server does not run as root.
  EXPECT_EQ(pg.QueryValue("SELECT current_setting('data_directory')").value(), pg.data_dir());
  ASSERT_TRUE(pg.Exec("CREATE TABLE t(a int); INSERT INTO t VALUES (1), (2)").ok());
  EXPECT_EQ(pg.QueryValue("SELECT sum(a) FROM t").value(), "3");
}

TEST(PgTestClusterTest, WrongPasswordIsRejectedOverTcp) {
  auto cluster = PgTestCluster::Start();
  ASSERT_TRUE(cluster.ok()) << cluster.status().ToString();
  auto session = PgSession::Connect((*cluster)->Dsn("postgres", "password=wrong"));
  ASSERT_FALSE(session.ok());
  EXPECT_NE(session.status().message().find("password authentication failed"), std::string::npos)
      << session.status().ToString();
}

TEST(PgTestClusterTest, SettingsOverrideDefaults) {
  auto cluster = PgTestCluster::Start({.settings = {{"wal_level", "replica"}}});
  ASSERT_TRUE(cluster.ok()) << cluster.status().ToString();
  EXPECT_EQ((*cluster)->QueryValue("SHOW wal_level").value(), "replica");
}

TEST(PgTestClusterTest, RestartKeepsDataAndPort) {
  auto cluster = PgTestCluster::Start();
  ASSERT_TRUE(cluster.ok()) << cluster.status().ToString();
  auto& pg = **cluster;
  ASSERT_TRUE(pg.Exec("CREATE TABLE t(a int); INSERT INTO t VALUES (7)").ok());
  ASSERT_TRUE(pg.Restart("immediate").ok());
  EXPECT_EQ(pg.QueryValue("SELECT a FROM t").value(), "7");
  ASSERT_TRUE(pg.Stop().ok());
  EXPECT_FALSE(pg.Connect().ok());
  ASSERT_TRUE(pg.StartServer().ok());
  EXPECT_EQ(pg.QueryValue("SELECT a FROM t").value(), "7");
}

TEST(PgTestClusterTest, DestructorRemovesEverything) {
  std::string dir;
  {
    auto cluster = PgTestCluster::Start();
    ASSERT_TRUE(cluster.ok()) << cluster.status().ToString();
    dir = (*cluster)->dir();
    ASSERT_TRUE(std::filesystem::exists(dir + "/data/postmaster.pid"));
  }
  EXPECT_FALSE(std::filesystem::exists(dir));
}

// A test process killed mid-test (abort, SIGKILL, ctest timeout) runs no destructor;
// the reaper must still stop the server and remove the dir.
TEST(PgTestClusterTest, ReaperCleansUpAfterProcessDies) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(fds[0]);
    auto cluster = PgTestCluster::Start();
    std::string dir = cluster.ok() ? (*cluster)->dir() : "";
    (void)!write(fds[1], dir.data(), dir.size());
    close(fds[1]);
    _exit(0);  // no destructors run
  }
  close(fds[1]);
  char buf[256] = {};
  ssize_t n = read(fds[0], buf, sizeof(buf) - 1);
  close(fds[0]);
  int wstatus = 0;
  waitpid(child, &wstatus, 0);
  ASSERT_GT(n, 0) << "child failed to start a cluster";
  std::string dir(buf, n);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::filesystem::exists(dir) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_FALSE(std::filesystem::exists(dir)) << dir << " still exists after its owner died";
}

}  // namespace
}  // namespace pg2bq::testing
