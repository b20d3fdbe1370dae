#include "tests/bq_emulator/emulator_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string_view>
#include <thread>

namespace pg2bq::bqemu {

Status EmulatorProcess::Start(const std::vector<std::string>& extra_args) {
  int out[2];
  if (pipe(out) != 0) return Status::IoError("pipe failed");
  std::vector<std::string> args = {binary_, "--data",      data_dir_, "--grpc-port",
                                   "0",     "--http-port", "0"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  pid_ = fork();
  if (pid_ < 0) return Status::IoError("fork failed");
  if (pid_ == 0) {
    // Die with the test process even if it crashes before its destructors
    // run: a leaked emulator would outlive the test.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    close(out[1]);
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(binary_.c_str(), argv.data());
    _exit(127);
  }
  close(out[1]);
  std::string line;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (line.find('\n') == std::string::npos) {
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    deadline - std::chrono::steady_clock::now())
                                    .count());
    pollfd p{out[0], POLLIN, 0};
    if (left <= 0 || poll(&p, 1, left) <= 0) {
      close(out[0]);
      Kill();
      return Status::Unavailable("bq-emulator did not print its ports within 20 s");
    }
    char buf[256];
    ssize_t n = read(out[0], buf, sizeof buf);
    if (n <= 0) {
      close(out[0]);
      Kill();
      return Status::Unavailable("bq-emulator exited before printing its ports");
    }
    line.append(buf, static_cast<size_t>(n));
  }
  close(out[0]);  // the emulator prints nothing else on stdout
  // grpc=127.0.0.1:P http=127.0.0.1:Q
  size_t g = line.find("grpc="), h = line.find(" http=");
  if (g != 0 || h == std::string::npos) {
    Kill();
    return Status::Corruption("unexpected first line from bq-emulator: " + line);
  }
  grpc_target_ = line.substr(5, h - 5);
  std::string http = line.substr(h + 6, line.find('\n') - h - 6);
  http_port_ = std::atoi(http.substr(http.rfind(':') + 1).c_str());
  return Status::Ok();
}

void EmulatorProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void EmulatorProcess::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  Kill();
}

Result<std::string> EmulatorProcess::Dump(const std::string& table) const {
  std::string cmd = binary_ + " dump --data '" + data_dir_ + "' --table '" + table + "' 2>&1";
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) return Status::IoError("popen failed");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0)
    out.append(buf, n);
  int rc = pclose(f);
  if (rc != 0) return Status::Internal("dump failed: " + out);
  return out;
}

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base ? base : "/tmp") + "/bq-emulator-test-XXXXXX";
  char* p = mkdtemp(tmpl.data());
  path_ = p ? p : "";
}

TempDir::~TempDir() {
  // PG2BQ_KEEP_TEST_DIRS=1 keeps the directory (state, spool, emulator data) for a post-mortem.
  const char* keep = std::getenv("PG2BQ_KEEP_TEST_DIRS");
  if (keep != nullptr && std::string_view(keep) == "1") {
    std::fprintf(stderr, "kept test directory %s\n", path_.c_str());
    return;
  }
  std::error_code ec;
  if (!path_.empty()) std::filesystem::remove_all(path_, ec);
}

}  // namespace pg2bq::bqemu
