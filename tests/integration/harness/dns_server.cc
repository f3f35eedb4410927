#include "integration/harness/dns_server.h"

#include "integration/harness/dns_records.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <gtest/gtest.h>

namespace pilotfish::it {

DnsServer::DnsServer(const std::string& records) : dir_(makeTempDir("dns")) {
  setRecords(records);
  start();
}

DnsServer::~DnsServer() {
  if (proc_ && ::testing::Test::HasFailure()) {
    std::fprintf(stderr, "---- dns_server.py output ----\n%s\n", proc_->output().c_str());
  }
}

void DnsServer::setRecords(const std::string& records) {
  ::pilotfish::testing::dns::writeRecords(dir_, records);
}

int DnsServer::queries(const std::string& name, const std::string& type,
                       const std::string& proto) const {
  return ::pilotfish::testing::dns::countQueries(dir_, name, type, proto);
}

void DnsServer::stop() {
  proc_.reset();
}

void DnsServer::start() {
  const std::string port_file = dir_ + "/port";
  std::filesystem::remove(port_file);
  proc_ = std::make_unique<Process>(std::vector<std::string>{
      "/usr/bin/python3",
      std::string(PILOTFISH_SOURCE_DIR) + "/tests/integration/backends/dns_server.py", "--records",
      dir_ + "/records.json", "--port", std::to_string(port_), "--port-file", port_file, "--log",
      dir_ + "/queries.log"});
  if (!waitFor([&] { return std::filesystem::exists(port_file) || !proc_->running(); },
               milliseconds(20000)) ||
      !std::filesystem::exists(port_file)) {
    throw std::runtime_error("dns_server.py did not start: " + proc_->output());
  }
  std::ifstream(port_file) >> port_;
}

std::string DnsServer::output() const {
  return proc_ ? proc_->output() : std::string();
}

}  // namespace pilotfish::it
