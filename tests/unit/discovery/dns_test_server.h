#pragma once
// The test DNS server (tests/integration/backends/dns_server.py) for the DNS watcher's unit
// tests, which do not link the integration harness. Runs in its own temp dir; records are
// replaced atomically (rename); queries are counted from its query log. Killed when destroyed.

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "integration/harness/dns_records.h"

namespace pilotfish::discovery::testing {

class DnsTestServer {
 public:
  /// `records`: the JSON records file (see the script's docstring).
  explicit DnsTestServer(const std::string& records) {
    char tmpl[] = "/tmp/pf-dns-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    setRecords(records);
    start(0);
  }
  ~DnsTestServer() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  DnsTestServer(const DnsTestServer&) = delete;
  DnsTestServer& operator=(const DnsTestServer&) = delete;

  uint16_t port() const { return port_; }

  /// Replaces the records file atomically: the next query sees all of it.
  void setRecords(const std::string& json) { ::pilotfish::testing::dns::writeRecords(dir_, json); }

  /// Queries received so far for `name` and `type` ("SRV", "A", ...), over `proto` ("" = both).
  int queries(const std::string& name, const std::string& type, const std::string& proto = "") {
    return ::pilotfish::testing::dns::countQueries(dir_, name, type, proto);
  }

  void stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

  /// Starts again on the same port (the records and the query log are kept).
  void restart() {
    stop();
    start(port_);
  }

 private:
  void start(uint16_t port) {
    const std::string port_file = dir_ + "/port";
    std::filesystem::remove(port_file);
    const std::string script =
        std::string(PILOTFISH_SOURCE_DIR) + "/tests/integration/backends/dns_server.py";
    std::vector<std::string> argv{"/usr/bin/python3",     script,    "--records",
                                  dir_ + "/records.json", "--port",  std::to_string(port),
                                  "--port-file",          port_file, "--log",
                                  dir_ + "/queries.log"};
    pid_ = ::fork();
    if (pid_ == 0) {
      std::vector<char*> cargv;
      for (auto& a : argv) cargv.push_back(a.data());
      cargv.push_back(nullptr);
      ::execv(cargv[0], cargv.data());
      ::_exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!std::filesystem::exists(port_file)) {
      if (std::chrono::steady_clock::now() > deadline || ::waitpid(pid_, nullptr, WNOHANG) != 0) {
        stop();
        throw std::runtime_error("dns_server.py did not start");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::ifstream(port_file) >> port_;
  }

  std::string dir_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

}  // namespace pilotfish::discovery::testing
