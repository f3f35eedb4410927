#include "integration/harness/etcd_server.h"

#include <gtest/gtest.h>

#include <csignal>
#include <iostream>
#include <stdexcept>

#include <boost/json.hpp>

namespace pilotfish::it {

namespace {

// The "header.revision" of an etcdctl -w json answer.
int64_t headerRevision(const std::string& json_text) {
  auto v = parseJson(json_text);
  return v.at("header").at("revision").to_number<int64_t>();
}

}  // namespace

EtcdServer::EtcdServer() : EtcdServer(Options{}) {}

EtcdServer::EtcdServer(Options options) : options_(std::move(options)) {
  dir_ = makeTempDir("etcd");
  client_port_ = options_.client_port ? options_.client_port : freePort();
  peer_port_ = freePort();
  start();
}

EtcdServer::~EtcdServer() {
  if (::testing::Test::HasFailure()) {
    std::cerr << "---- etcd on port " << client_port_ << " output (tail) ----\n";
    std::string out = output();
    std::cerr << (out.size() > 4000 ? out.substr(out.size() - 4000) : out) << "\n";
  }
}

std::string EtcdServer::address() const {
  return "127.0.0.1:" + std::to_string(client_port_);
}

std::string EtcdServer::output() const {
  return last_output_ + (proc_ ? proc_->output() : "");
}

void EtcdServer::stop() {
  if (!proc_) return;
  proc_->kill();
  last_output_ += proc_->output();
  proc_.reset();
}

bool EtcdServer::healthy() const {
  if (options_.tls_cert.empty()) {
    auto r = http("GET", client_port_, "/health", milliseconds(1000));
    return r.status == 200 && r.body.find("\"health\":\"true\"") != std::string::npos;
  }
  auto argv = ctlBase();
  argv.push_back("endpoint");
  argv.push_back("health");
  return runCommand(argv, milliseconds(3000)).ok();
}

void EtcdServer::start() {
  if (proc_) return;
  bool tls = !options_.tls_cert.empty();
  std::string client_url =
      std::string(tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(client_port_);
  std::string peer_url = "http://127.0.0.1:" + std::to_string(peer_port_);
  std::vector<std::string> argv{"etcd",
                                "--name=ci",
                                "--data-dir=" + dir_ + "/data",
                                "--listen-client-urls=" + client_url,
                                "--advertise-client-urls=" + client_url,
                                "--listen-peer-urls=" + peer_url,
                                "--initial-advertise-peer-urls=" + peer_url,
                                "--initial-cluster=ci=" + peer_url,
                                "--logger=zap",
                                "--log-level=warn"};
  if (tls) {
    argv.push_back("--cert-file=" + options_.tls_cert);
    argv.push_back("--key-file=" + options_.tls_key);
    if (options_.client_cert_auth) {
      argv.push_back("--client-cert-auth");
      argv.push_back("--trusted-ca-file=" + options_.ca_cert);
    }
  }
  proc_ = std::make_unique<Process>(argv);
  bool up = waitFor([&] { return !proc_->running() || healthy(); }, options_.ready_timeout) &&
            proc_->running();
  if (!up) {
    std::string out = proc_->output();
    proc_.reset();
    throw std::runtime_error("etcd on port " + std::to_string(client_port_) +
                             " did not become healthy; output:\n" + out);
  }
}

std::vector<std::string> EtcdServer::ctlBase() const {
  // runCommand has no environment option; etcdctl 3.4 speaks v3 by default, env makes it sure.
  std::vector<std::string> argv{"env",
                                "ETCDCTL_API=3",
                                "etcdctl",
                                "--endpoints=" + address(),
                                "--dial-timeout=2s",
                                "--command-timeout=5s"};
  if (!options_.tls_cert.empty()) {
    argv.push_back("--cacert=" + options_.ca_cert);
    if (options_.client_cert_auth) {
      argv.push_back("--cert=" + options_.ctl_cert);
      argv.push_back("--key=" + options_.ctl_key);
    }
  }
  return argv;
}

std::string EtcdServer::ctl(const std::vector<std::string>& args) const {
  auto argv = ctlBase();
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = runCommand(argv, milliseconds(15000));
  if (!r.ok()) {
    std::string cmd;
    for (const auto& a : args) cmd += " " + a;
    throw std::runtime_error("etcdctl" + cmd + " failed: " + r.out + r.err);
  }
  return r.out;
}

int64_t EtcdServer::put(const std::string& key, const std::string& value) const {
  // "--" so that a value starting with '-' is not taken for a flag.
  return headerRevision(ctl({"-w", "json", "put", "--", key, value}));
}

int64_t EtcdServer::del(const std::string& key) const {
  return headerRevision(ctl({"-w", "json", "del", "--", key}));
}

int64_t EtcdServer::revision() const {
  return headerRevision(ctl({"-w", "json", "get", "--", "/__pilotfish_revision_probe"}));
}

void EtcdServer::compact(int64_t revision) const {
  ctl({"compact", "--physical", std::to_string(revision)});
}

}  // namespace pilotfish::it
