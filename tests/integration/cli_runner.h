// Runs the pg2bq executable as a child process for end-to-end tests: captures
// stdout/stderr, enforces a timeout (the child is killed when it expires), and can
// run it in the background to be signalled.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace pg2bq::testing {

struct CliResult {
  int exit_code = -1;  // -1: killed (timeout or signal)
  std::string out;
  std::string err;
  bool timed_out = false;
};

class CliProcess {
 public:
  // Starts `PG2BQ_BINARY args...`, stdout/stderr to temp files.
  explicit CliProcess(const std::vector<std::string>& args) {
    char tmpl[] = "/tmp/pg2bq-cli-XXXXXX";
    dir_ = mkdtemp(tmpl);
    std::vector<std::string> full = {PG2BQ_BINARY};
    full.insert(full.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : full)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, (dir_ + "/out").c_str(), O_WRONLY | O_CREAT, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, (dir_ + "/err").c_str(), O_WRONLY | O_CREAT, 0644);
    if (posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
  }
  ~CliProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    const char* keep = std::getenv("PG2BQ_KEEP_TEST_DIRS");  // logs kept for a post-mortem
    if (keep != nullptr && std::string(keep) == "1") return;
    std::string cmd = "rm -rf " + dir_;
    (void)!std::system(cmd.c_str());
  }
  void Signal(int sig) {
    if (pid_ > 0) kill(pid_, sig);
  }
  std::string ReadOut() const { return Read(dir_ + "/out"); }
  std::string ReadErr() const { return Read(dir_ + "/err"); }

  CliResult Wait(std::chrono::seconds timeout) {
    CliResult r;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    while (pid_ > 0) {
      pid_t w = waitpid(pid_, &status, WNOHANG);
      if (w == pid_) {
        pid_ = -1;
        r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        break;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        pid_ = -1;
        r.timed_out = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    r.out = ReadOut();
    r.err = ReadErr();
    return r;
  }

 private:
  static std::string Read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::string dir_;
  pid_t pid_ = -1;
};

inline CliResult RunCli(const std::vector<std::string>& args,
                        std::chrono::seconds timeout = std::chrono::seconds(60)) {
  CliProcess p(args);
  return p.Wait(timeout);
}

}  // namespace pg2bq::testing
