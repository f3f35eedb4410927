#pragma once
// The test DNS server (tests/integration/backends/dns_server.py: authoritative, UDP and TCP, on
// one loopback port) with a records file the test rewrites, and its query log. See the script's
// docstring for the records format and the failure modes (servfail, timeout, garbage, ...).

#include <cstdint>
#include <memory>
#include <string>

#include "integration/harness/harness.h"

namespace pilotfish::it {

class DnsServer {
 public:
  /// Starts on a free port (the script binds UDP and TCP on the same one) with `records` (JSON);
  /// ready when constructed.
  explicit DnsServer(const std::string& records);
  ~DnsServer();  ///< prints the server's output when the test has failed
  DnsServer(const DnsServer&) = delete;
  DnsServer& operator=(const DnsServer&) = delete;

  uint16_t port() const { return port_; }
  /// "127.0.0.1:PORT", for a source's `servers`.
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  /// Replaces the records atomically (rename): the next query sees exactly `records`.
  void setRecords(const std::string& records);
  /// Queries received so far for `name` and `type` ("SRV", "A", "AAAA"), over `proto` ("udp",
  /// "tcp"; "" = both).
  int queries(const std::string& name, const std::string& type,
              const std::string& proto = "") const;
  /// SIGKILL; the records and the query log stay.
  void stop();
  /// Starts again on the same port.
  void start();
  std::string output() const;

 private:
  std::string dir_;
  uint16_t port_ = 0;
  std::unique_ptr<Process> proc_;
};

}  // namespace pilotfish::it
