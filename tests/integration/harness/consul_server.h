#pragma once
// The Consul test server (tests/integration/backends/consul_server.py) as a test peer: started on
// 127.0.0.1:freePort() (or a given port, to come back where a client expects it), ready when
// constructed, killed when destroyed. Writes go through Consul's agent API; misbehaviour through
// the server's /__test/ control API (see the script's docstring).

#include <memory>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "integration/harness/harness.h"

namespace pilotfish::it {

class ConsulServer {
 public:
  struct Options {
    uint16_t port = 0;  ///< 0: any free port (restart() keeps the one it got)
    std::string datacenter = "dc1";
    std::vector<std::string> extra_dcs;
    std::string token;       ///< non-empty: ACLs on (default deny), this is the management token
    std::string read_token;  ///< may read, not write
    std::string tls_cert;    ///< with tls_key: the port speaks HTTPS
    std::string tls_key;
    std::string tls_client_ca;  ///< clients must present a certificate signed by this CA
    std::string client_cert;    ///< what request() presents then
    std::string client_key;
    milliseconds ready_timeout{15000};
  };

  ConsulServer();
  explicit ConsulServer(Options options);
  ~ConsulServer();  ///< prints the server's output when the test has failed
  ConsulServer(const ConsulServer&) = delete;
  ConsulServer& operator=(const ConsulServer&) = delete;

  uint16_t port() const { return options_.port; }
  const Options& options() const { return options_; }
  /// Kills the server (the port then refuses connections).
  void kill();
  /// Starts a fresh server (empty catalog) on the same port.
  void restart();
  bool running() { return proc_ && proc_->running(); }

  /// One request with `body`; the management token when ACLs are on (unless `token` is given;
  /// "-" sends none). Uses curl for HTTPS.
  HttpResponse request(const std::string& method, const std::string& target,
                       const std::string& body = "", const std::string& token = "");

  /// PUT /v1/agent/service/register with `json`; throws unless 200.
  void registerService(const std::string& json);
  /// Registers `id` of `name` at 127.0.0.1:port with tags and a passing TTL check
  /// ("service:<id>", TTL 1h) unless `check` is false.
  void registerSimple(const std::string& id, const std::string& name, uint16_t port,
                      const std::vector<std::string>& tags = {}, bool check = true);
  void deregister(const std::string& id);
  /// PUT /v1/agent/check/<pass|warn|fail>/<check_id>; throws unless 200.
  void check(const std::string& verb, const std::string& check_id);
  void maintenance(const std::string& service_id, bool enable, const std::string& reason = "");
  /// POST /__test/<what> (with query) and `body`; throws unless 200. Returns the body.
  std::string control(const std::string& what, const std::string& body = "");
  /// GET /__test/requests: every /v1/health request the server received.
  boost::json::array requests();
  /// Requests received whose path ends with `/health/service/<service>`.
  std::size_t healthRequests(const std::string& service);
  /// GET /v1/health/service/<service>?<query> as a parsed array (throws unless 200).
  boost::json::array health(const std::string& service, const std::string& query = "");
  std::string output() const { return proc_ ? proc_->output() : std::string(); }
  static std::string scriptPath();

 private:
  void start();
  Options options_;
  std::unique_ptr<Process> proc_;
};

}  // namespace pilotfish::it
