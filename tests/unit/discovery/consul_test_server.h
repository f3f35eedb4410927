#pragma once
// The Consul test server (tests/integration/backends/consul_server.py) for the watcher's unit
// tests, which do not link the integration harness: started with --port 0 (or a given port), its
// port read from its "READY <port>" line, talked to with curl. Killed when destroyed.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

namespace pilotfish::discovery::testing {

class ConsulTestServer {
 public:
  explicit ConsulTestServer(std::vector<std::string> args = {}, uint16_t port = 0)
      : args_(std::move(args)) {
    start(port);
  }
  ~ConsulTestServer() { kill(); }
  ConsulTestServer(const ConsulTestServer&) = delete;
  ConsulTestServer& operator=(const ConsulTestServer&) = delete;

  uint16_t port() const { return port_; }

  void kill() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
    if (out_ >= 0) ::close(out_);
    out_ = -1;
  }

  /// A fresh server (empty catalog) on the same port.
  void restart() {
    kill();
    start(port_);
  }

  /// `curl -s -X method` on http://127.0.0.1:port<target>; returns the body. `token` sent as
  /// X-Consul-Token when non-empty. Throws when curl fails (connection refused).
  std::string curl(const std::string& method, const std::string& target,
                   const std::string& body = "", const std::string& token = "") {
    std::string cmd =
        "curl -s -f -X " + method + " 'http://127.0.0.1:" + std::to_string(port_) + target + "'";
    if (!token.empty()) cmd += " -H 'X-Consul-Token: " + token + "'";
    if (!body.empty() || method != "GET") cmd += " --data-binary @-";
    FILE* p = ::popen(("printf '%s' '" + body + "' | " + cmd).c_str(), "r");
    if (p == nullptr) throw std::runtime_error("popen failed");
    std::string out;
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    int rc = ::pclose(p);
    if (rc != 0) throw std::runtime_error("curl failed (" + std::to_string(rc) + "): " + cmd);
    return out;
  }

 private:
  void start(uint16_t port) {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
    const std::string script =
        std::string(PILOTFISH_SOURCE_DIR) + "/tests/integration/backends/consul_server.py";
    std::vector<std::string> argv{"/usr/bin/python3", script, "--port", std::to_string(port)};
    argv.insert(argv.end(), args_.begin(), args_.end());
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], 1);
      int null = ::open("/dev/null", O_RDWR);
      ::dup2(null, 0);
      ::close(fds[0]);
      std::vector<char*> cargv;
      for (auto& a : argv) cargv.push_back(a.data());
      cargv.push_back(nullptr);
      ::execv(cargv[0], cargv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    out_ = fds[0];
    // Read "READY <port>\n" with a deadline.
    std::string got;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (got.find('\n') == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd pfd{out_, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) break;
      char c[256];
      ssize_t n = ::read(out_, c, sizeof c);
      if (n <= 0) break;
      got.append(c, static_cast<std::size_t>(n));
    }
    if (got.rfind("READY ", 0) != 0) {
      kill();
      throw std::runtime_error("consul_server.py did not start: " + got);
    }
    port_ = static_cast<uint16_t>(std::stoi(got.substr(6)));
  }

  std::vector<std::string> args_;
  pid_t pid_ = -1;
  int out_ = -1;
  uint16_t port_ = 0;
};

}  // namespace pilotfish::discovery::testing
