// Test helper: runs build/bq-emulator as a child process on free loopback
// ports with its own data directory, and kills it on destruction (also when
// a test fails), so no server outlives the test.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/status.h"

namespace pg2bq::bqemu {

class EmulatorProcess {
 public:
  EmulatorProcess(std::string binary, std::string data_dir)
      : binary_(std::move(binary)), data_dir_(std::move(data_dir)) {}
  ~EmulatorProcess() { Kill(); }
  EmulatorProcess(const EmulatorProcess&) = delete;
  EmulatorProcess& operator=(const EmulatorProcess&) = delete;

  // Starts it and waits (at most 20 s) for the `grpc=... http=...` line.
  Status Start(const std::vector<std::string>& extra_args = {});
  // SIGKILL, no chance to clean up (durability tests).
  void Kill();
  // SIGTERM and wait.
  void Stop();

  const std::string& grpc_target() const { return grpc_target_; }
  int http_port() const { return http_port_; }
  const std::string& data_dir() const { return data_dir_; }

  // Runs `bq-emulator dump` on the data directory and returns stdout.
  Result<std::string> Dump(const std::string& table) const;

 private:
  std::string binary_;
  std::string data_dir_;
  pid_t pid_ = -1;
  std::string grpc_target_;
  int http_port_ = 0;
};

// A fresh directory under $TMPDIR, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace pg2bq::bqemu
