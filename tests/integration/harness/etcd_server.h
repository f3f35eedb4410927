#pragma once
// A real etcd 3.4 member (Debian `etcd-server`) on free loopback ports with its own data dir, and
// test writes through `etcdctl` (Debian `etcd-client`, API v3). See
// ../shared/contracts/test-servers.md.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "integration/harness/harness.h"

namespace pilotfish::it {

class EtcdServer {
 public:
  struct Options {
    uint16_t client_port = 0;  ///< 0: freePort()
    /// Both set: clients speak TLS (https client URL) with this server certificate.
    std::string tls_cert;
    std::string tls_key;
    std::string ca_cert;  ///< with TLS: the CA that signed tls_cert (etcdctl checks with it)
    /// With TLS: clients must present a certificate signed by ca_cert (--client-cert-auth);
    /// etcdctl uses ctl_cert / ctl_key.
    bool client_cert_auth = false;
    std::string ctl_cert;
    std::string ctl_key;
    milliseconds ready_timeout{30000};
  };

  EtcdServer();
  explicit EtcdServer(Options options);
  ~EtcdServer();  ///< prints the server's output when the test has failed
  EtcdServer(const EtcdServer&) = delete;
  EtcdServer& operator=(const EtcdServer&) = delete;

  uint16_t port() const { return client_port_; }
  /// "127.0.0.1:PORT"
  std::string address() const;
  /// SIGKILL (a crash: streams break without a goodbye); the data dir is kept.
  void stop();
  /// Starts again on the same ports and data dir; returns when /health says true.
  void start();
  bool running() const { return proc_ != nullptr; }
  std::string output() const;

  /// etcdctl against this member; throws with its output when it fails. Returns stdout.
  std::string ctl(const std::vector<std::string>& args) const;
  /// Writes `key` = `value`; returns the new revision of the store.
  int64_t put(const std::string& key, const std::string& value) const;
  /// Deletes `key`; returns the new revision.
  int64_t del(const std::string& key) const;
  /// The store's current revision.
  int64_t revision() const;
  /// Compacts the history up to `revision` (watches from before it are canceled).
  void compact(int64_t revision) const;

 private:
  std::vector<std::string> ctlBase() const;
  bool healthy() const;

  Options options_;
  std::string dir_;
  uint16_t client_port_ = 0;
  uint16_t peer_port_ = 0;
  std::unique_ptr<Process> proc_;
  std::string last_output_;
};

}  // namespace pilotfish::it
