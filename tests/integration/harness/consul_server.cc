#include "integration/harness/consul_server.h"

#include <unistd.h>

#include <cstdio>
#include <stdexcept>

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

namespace pilotfish::it {

namespace {

std::string pythonBinary() {
  return ::access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

std::string lastChars(const std::string& s, std::size_t n) {
  return s.size() <= n ? s : "..." + s.substr(s.size() - n);
}

}  // namespace

std::string ConsulServer::scriptPath() {
  return std::string(PILOTFISH_SOURCE_DIR) + "/tests/integration/backends/consul_server.py";
}

ConsulServer::ConsulServer() : ConsulServer(Options{}) {}

ConsulServer::ConsulServer(Options options) : options_(std::move(options)) {
  if (options_.tls_cert.empty() != options_.tls_key.empty()) {
    throw std::runtime_error("ConsulServer: tls_cert and tls_key go together");
  }
  start();
}

ConsulServer::~ConsulServer() {
  if (proc_ && ::testing::Test::HasFailure()) {
    std::fprintf(stderr, "---- consul_server.py output (port %u) ----\n%s---- end ----\n",
                 static_cast<unsigned>(options_.port),
                 lastChars(proc_->errorOutput(), 8000).c_str());
  }
}

void ConsulServer::start() {
  // --port 0 lets the server bind a free port itself and print it: no race with other tests.
  std::vector<std::string> argv{pythonBinary(), scriptPath(),
                                "--port",       std::to_string(options_.port),
                                "--datacenter", options_.datacenter};
  for (const auto& dc : options_.extra_dcs) argv.insert(argv.end(), {"--extra-dc", dc});
  if (!options_.token.empty()) argv.insert(argv.end(), {"--token", options_.token});
  if (!options_.read_token.empty()) argv.insert(argv.end(), {"--read-token", options_.read_token});
  if (!options_.tls_cert.empty()) {
    argv.insert(argv.end(), {"--tls-cert", options_.tls_cert, "--tls-key", options_.tls_key});
  }
  if (!options_.tls_client_ca.empty()) {
    argv.insert(argv.end(), {"--tls-client-ca", options_.tls_client_ca});
  }
  proc_ = std::make_unique<Process>(argv, Process::Options{.separate_stderr = true});
  std::size_t at = std::string::npos;
  waitFor(
      [&] {
        at = proc_->output().find("READY ");
        return !proc_->running() ||
               (at != std::string::npos && proc_->output().find('\n', at) != std::string::npos);
      },
      options_.ready_timeout);
  std::string out = proc_->output();
  if (!proc_->running() || at == std::string::npos) {
    std::string err = proc_->errorOutput();
    proc_->kill();
    throw std::runtime_error("consul_server.py did not become ready on port " +
                             std::to_string(options_.port) + "; output:\n" + out + err);
  }
  options_.port = static_cast<uint16_t>(std::stoi(out.substr(at + 6)));
}

void ConsulServer::kill() {
  if (proc_) proc_->kill();
}

void ConsulServer::restart() {
  kill();
  start();
}

HttpResponse ConsulServer::request(const std::string& method, const std::string& target,
                                   const std::string& body, const std::string& token) {
  std::string tok = token.empty() ? options_.token : (token == "-" ? std::string() : token);
  if (options_.tls_cert.empty()) {
    std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                      "Connection: close\r\nContent-Length: " + std::to_string(body.size()) +
                      "\r\n";
    if (!tok.empty()) req += "X-Consul-Token: " + tok + "\r\n";
    auto raw = httpRaw(options_.port, req + "\r\n" + body, milliseconds(15000));
    std::size_t consumed = 0;
    auto parsed = parseResponse(raw.raw, consumed, true);  // decodes chunked answers
    return parsed ? *parsed : raw;
  }
  std::vector<std::string> argv{"curl",
                                "-s",
                                "-i",
                                "-k",
                                "-X",
                                method,
                                "--data-binary",
                                body,
                                "https://127.0.0.1:" + std::to_string(options_.port) + target};
  if (!tok.empty()) argv.insert(argv.end(), {"-H", "X-Consul-Token: " + tok});
  if (!options_.client_cert.empty()) {
    argv.insert(argv.end(), {"--cert", options_.client_cert, "--key", options_.client_key});
  }
  auto res = runCommand(argv, milliseconds(15000));
  std::size_t consumed = 0;
  auto parsed = parseResponse(res.out, consumed, true);
  return parsed ? *parsed : HttpResponse{};
}

namespace {

std::string expectOk(const HttpResponse& r, const std::string& what) {
  if (r.status != 200) {
    throw std::runtime_error("consul " + what + ": status " + std::to_string(r.status) + ": " +
                             r.body);
  }
  return r.body;
}

}  // namespace

void ConsulServer::registerService(const std::string& json) {
  expectOk(request("PUT", "/v1/agent/service/register", json), "register");
}

void ConsulServer::registerSimple(const std::string& id, const std::string& name, uint16_t port,
                                  const std::vector<std::string>& tags, bool check) {
  std::string tag_list;
  for (const auto& t : tags) tag_list += (tag_list.empty() ? "\"" : ",\"") + t + "\"";
  std::string json = "{\"ID\":\"" + id + "\",\"Name\":\"" + name +
                     "\",\"Address\":\"127.0.0.1\",\"Port\":" + std::to_string(port) +
                     ",\"Tags\":[" + tag_list + "]";
  if (check)
    json += ",\"Check\":{\"CheckID\":\"service:" + id + "\",\"TTL\":\"1h\",\"Status\":\"passing\"}";
  registerService(json + "}");
}

void ConsulServer::deregister(const std::string& id) {
  expectOk(request("PUT", "/v1/agent/service/deregister/" + id), "deregister");
}

void ConsulServer::check(const std::string& verb, const std::string& check_id) {
  expectOk(request("PUT", "/v1/agent/check/" + verb + "/" + check_id), "check " + verb);
}

void ConsulServer::maintenance(const std::string& service_id, bool enable,
                               const std::string& reason) {
  expectOk(request("PUT", "/v1/agent/service/maintenance/" + service_id +
                              "?enable=" + (enable ? "true" : "false") + "&reason=" + reason),
           "maintenance");
}

std::string ConsulServer::control(const std::string& what, const std::string& body) {
  return expectOk(request("POST", "/__test/" + what, body), "control " + what);
}

boost::json::array ConsulServer::requests() {
  return boost::json::parse(expectOk(request("GET", "/__test/requests"), "requests")).as_array();
}

std::size_t ConsulServer::healthRequests(const std::string& service) {
  std::size_t n = 0;
  const std::string suffix = "/health/service/" + service;
  for (const auto& r : requests()) {
    std::string path(r.as_object().at("path").as_string());
    if (path.size() >= suffix.size() &&
        path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0) {
      ++n;
    }
  }
  return n;
}

boost::json::array ConsulServer::health(const std::string& service, const std::string& query) {
  auto r = request("GET", "/v1/health/service/" + service + (query.empty() ? "" : "?" + query));
  return boost::json::parse(expectOk(r, "health")).as_array();
}

}  // namespace pilotfish::it
