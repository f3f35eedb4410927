// Harness part two: HTTP/1.1 on the wire (rawHttp, response parsing), the test CA, and the HTTP
// peers (the Python backend, nginx). Declared in harness.h.

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>

#include <boost/json.hpp>

#include "integration/harness/harness.h"

namespace pilotfish::it {

namespace fs = std::filesystem;

namespace {

std::string lowered(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  return s.substr(i);
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void writeFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path);
}

milliseconds left(Clock::time_point deadline) {
  auto l = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
  return l.count() < 0 ? milliseconds(0) : l;
}

std::string tail(const std::string& s, std::size_t n) {
  return s.size() <= n ? s : "..." + s.substr(s.size() - n);
}

std::string shown(const std::string& s) {
  return s.substr(0, std::min<std::size_t>(s.size(), 200));
}

// Parses "size[;ext]" of a chunk; false when it is not hex.
bool chunkSize(const std::string& line, std::size_t& size) {
  std::string hex = trimmed(line.substr(0, line.find(';')));
  if (hex.empty() || hex.size() > 15) return false;
  size = 0;
  for (char c : hex) {
    int d = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
            : (c >= 'a' && c <= 'f')                    ? c - 'a' + 10
            : (c >= 'A' && c <= 'F')                    ? c - 'A' + 10
                                                        : -1;
    if (d < 0) return false;
    size = size * 16 + static_cast<std::size_t>(d);
  }
  return true;
}

std::string python() {
  // Debian's interpreter when present: it starts fast (no version-manager shim in between).
  return ::access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 on the wire

int HttpResponse::headerCount(const std::string& name) const {
  auto want = lowered(name);
  return static_cast<int>(std::count_if(header_list.begin(), header_list.end(),
                                        [&](const auto& h) { return lowered(h.first) == want; }));
}

RawExchange rawHttp(uint16_t port, const std::string& bytes, milliseconds timeout) {
  RawExchange r;
  auto deadline = Clock::now() + timeout;
  TcpClient c;
  r.connect_error = c.connect(port, timeout);
  if (r.connect_error != 0) return r;
  auto [data, end] = c.exchange(bytes, false, left(deadline));
  r.data = std::move(data);
  r.end = end;
  return r;
}

std::optional<HttpResponse> parseResponse(const std::string& data, std::size_t& consumed,
                                          bool at_eof, bool head_request) {
  consumed = 0;
  auto head_end = data.find("\r\n\r\n");
  if (head_end == std::string::npos) return std::nullopt;
  HttpResponse r;
  std::istringstream head(data.substr(0, head_end));
  std::string line;
  std::getline(head, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  // HTTP-version SP 3DIGIT SP [reason]
  bool ok = line.size() >= 12 && line.rfind("HTTP/1.", 0) == 0 && line[8] == ' ' &&
            std::isdigit(static_cast<unsigned char>(line[9])) &&
            std::isdigit(static_cast<unsigned char>(line[10])) &&
            std::isdigit(static_cast<unsigned char>(line[11])) &&
            (line.size() == 12 || line[12] == ' ');
  if (!ok) throw std::runtime_error("bad status line: " + shown(line));
  r.version = line.substr(0, 8);
  r.status = std::stoi(line.substr(9, 3));
  r.reason = line.size() > 13 ? line.substr(13) : "";
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto colon = line.find(':');
    if (colon == std::string::npos || colon == 0) {
      throw std::runtime_error("bad header line: " + shown(line));
    }
    auto name = line.substr(0, colon);
    auto value = trimmed(line.substr(colon + 1));
    r.header_list.emplace_back(name, value);
    r.headers[lowered(name)] = value;
  }
  std::size_t pos = head_end + 4;

  bool no_body =
      head_request || (r.status >= 100 && r.status < 200) || r.status == 204 || r.status == 304;
  auto te = lowered(r.header("transfer-encoding"));
  if (no_body) {
    // nothing
  } else if (!te.empty() && te.size() >= 7 && te.substr(te.size() - 7) == "chunked") {
    r.chunked = true;
    while (true) {
      auto eol = data.find("\r\n", pos);
      if (eol == std::string::npos) return std::nullopt;
      std::size_t size = 0;
      if (!chunkSize(data.substr(pos, eol - pos), size)) {
        throw std::runtime_error("bad chunk size line: " + shown(data.substr(pos, eol - pos)));
      }
      pos = eol + 2;
      if (size == 0) break;
      if (data.size() < pos + size + 2) return std::nullopt;
      r.body.append(data, pos, size);
      if (data.compare(pos + size, 2, "\r\n") != 0) {
        throw std::runtime_error("chunk data not followed by CRLF");
      }
      pos += size + 2;
    }
    // Trailer section: lines until an empty one.
    while (true) {
      auto eol = data.find("\r\n", pos);
      if (eol == std::string::npos) return std::nullopt;
      bool empty = eol == pos;
      pos = eol + 2;
      if (empty) break;
    }
  } else if (r.headers.count("content-length")) {
    auto cl_text = r.header("content-length");
    char* end = nullptr;
    unsigned long long cl = std::strtoull(cl_text.c_str(), &end, 10);
    if (cl_text.empty() || *end != '\0') {
      throw std::runtime_error("bad content-length: " + cl_text);
    }
    if (data.size() < pos + cl) return std::nullopt;
    r.body = data.substr(pos, cl);
    pos += cl;
  } else {
    if (!at_eof) return std::nullopt;  // delimited by the end of the connection
    r.body = data.substr(pos);
    pos = data.size();
  }
  consumed = pos;
  r.raw = data.substr(0, pos);
  return r;
}

std::vector<HttpResponse> parseResponses(const std::string& data) {
  std::vector<HttpResponse> out;
  std::size_t off = 0;
  while (off < data.size()) {
    std::size_t consumed = 0;
    auto r = parseResponse(data.substr(off), consumed, true);
    if (!r) break;
    out.push_back(std::move(*r));
    off += consumed;
  }
  return out;
}

std::optional<HttpResponse> readResponse(TcpClient& c, std::string& buf, milliseconds timeout,
                                         bool head_request, ReadEnd* end) {
  auto deadline = Clock::now() + timeout;
  bool eof = false;
  while (true) {
    std::size_t consumed = 0;
    auto r = parseResponse(buf, consumed, eof, head_request);
    if (r) {
      buf.erase(0, consumed);
      if (end) *end = ReadEnd::kData;
      return r;
    }
    if (eof) return std::nullopt;
    auto e = c.recvSome(buf, left(deadline));
    if (e == ReadEnd::kEof) {
      eof = true;
      if (end) *end = e;
      continue;
    }
    if (e != ReadEnd::kData) {
      if (end) *end = e;
      return std::nullopt;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// TLS material

std::string makeTempDir(const std::string& prefix) {
  std::string tmpl = tempDir() + "/" + prefix + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) {
    throw std::runtime_error("mkdtemp " + tmpl + ": " + std::strerror(errno));
  }
  return buf.data();
}

namespace {

void openssl(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = runCommand(argv, milliseconds(30000));
  if (!r.ok()) {
    std::string cmd;
    for (const auto& a : argv) cmd += a + " ";
    throw std::runtime_error("TestCa: `" + cmd + "` failed (" +
                             (r.status ? r.status->describe() : "timed out") + "):\n" + r.out +
                             r.err);
  }
}

std::string serial() {
  static std::mt19937_64 rng{std::random_device{}()};
  static std::mutex mu;
  std::lock_guard lock(mu);
  return std::to_string(rng() >> 2);  // positive, < 2^62
}

}  // namespace

TestCa::TestCa(const std::string& name) : server_name(name) {
  dir = makeTempDir("ca");
  ca_cert = dir + "/ca.pem";
  ca_key = dir + "/ca.key";
  writeFile(dir + "/ca.cnf", R"([req]
distinguished_name = dn
prompt = no
[dn]
CN = pilotfish test CA
O = pilotfish tests
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
)");
  openssl({"req",
           "-x509",
           "-new",
           "-newkey",
           "ec",
           "-pkeyopt",
           "ec_paramgen_curve:prime256v1",
           "-nodes",
           "-keyout",
           ca_key,
           "-out",
           ca_cert,
           "-days",
           "3",
           "-set_serial",
           serial(),
           "-config",
           dir + "/ca.cnf",
           "-extensions",
           "v3_ca"});
  auto files = issue("server", name, {"DNS:" + name, "IP:127.0.0.1"});
  server_cert = files.cert;
  server_key = files.key;
}

TlsFiles TestCa::issue(const std::string& stem, const std::string& common_name,
                       const std::vector<std::string>& sans, bool client,
                       std::optional<Validity> validity) const {
  TlsFiles f{dir + "/" + stem + ".pem", dir + "/" + stem + ".key"};
  std::string cnf = dir + "/" + stem + ".cnf";
  std::string san_line;
  for (const auto& s : sans) san_line += (san_line.empty() ? "" : ",") + s;
  std::string text = "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = " + common_name +
                     "\n[ext]\nbasicConstraints = critical,CA:FALSE\n"
                     "keyUsage = critical,digitalSignature,keyEncipherment\n"
                     "extendedKeyUsage = " +
                     std::string(client ? "clientAuth" : "serverAuth") +
                     "\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n";
  if (!san_line.empty()) text += "subjectAltName = " + san_line + "\n";
  writeFile(cnf, text);
  std::string csr = dir + "/" + stem + ".csr";
  openssl({"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
           "-keyout", f.key, "-out", csr, "-config", cnf});
  if (!validity) {
    openssl({"x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-set_serial", serial(),
             "-days", "3", "-extfile", cnf, "-extensions", "ext", "-out", f.cert});
    return f;
  }
  // `openssl x509 -days -1` only moves notAfter (notBefore stays "now": an inverted period), and
  // OpenSSL 3.0's x509/req have no -not_before/-not_after; `openssl ca` takes both dates. It
  // needs a database and a serial file of its own: one set per stem.
  if (validity->not_after_days < validity->not_before_days) {
    throw std::runtime_error("TestCa::issue: not_after_days < not_before_days");
  }
  const std::string base = dir + "/" + stem;
  char hex[32];
  std::snprintf(hex, sizeof hex, "%016llX\n", std::stoull(serial()));
  writeFile(base + ".serial", hex);
  writeFile(base + ".index", "");
  writeFile(base + ".ca.cnf", "[ca]\ndefault_ca = ca_default\n[ca_default]\ndatabase = " + base +
                                  ".index\nserial = " + base +
                                  ".serial\ndefault_md = sha256\npolicy = policy_any\n"
                                  "unique_subject = no\n[policy_any]\ncommonName = supplied\n");
  const auto date = [](int days) {
    const std::time_t t = std::time(nullptr) + static_cast<std::time_t>(days) * 86400;
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y%m%d%H%M%SZ", &tm);
    return std::string(buf);
  };
  fs::create_directories(base + ".issued");
  openssl({"ca",
           "-batch",
           "-notext",
           "-config",
           base + ".ca.cnf",
           "-cert",
           ca_cert,
           "-keyfile",
           ca_key,
           "-in",
           csr,
           "-out",
           f.cert,
           "-outdir",
           base + ".issued",
           "-startdate",
           date(validity->not_before_days),
           "-enddate",
           date(validity->not_after_days),
           "-extfile",
           cnf,
           "-extensions",
           "ext"});
  return f;
}

// ---------------------------------------------------------------------------------------------
// HttpBackend

std::string HttpBackend::scriptPath() {
  return std::string(PILOTFISH_SOURCE_DIR) + "/tests/integration/backends/http_backend.py";
}

HttpBackend::HttpBackend() : HttpBackend(Options{}) {}

HttpBackend::HttpBackend(Options options) {
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    throw std::runtime_error("HttpBackend: tls_cert and tls_key go together");
  }
  tls_ = !options.tls_cert.empty();
  std::string last_output;
  // A port from freePort() can be taken by another process before the backend binds it: retry.
  for (int attempt = 0; attempt < 3; ++attempt) {
    port_ = freePort();
    plain_port_ = tls_ ? freePort() : port_;
    std::vector<std::string> argv{python(), scriptPath(), "--port", std::to_string(port_)};
    if (tls_) {
      for (const auto& a :
           {std::string("--tls-cert"), options.tls_cert, std::string("--tls-key"), options.tls_key,
            std::string("--plain-port"), std::to_string(plain_port_)}) {
        argv.push_back(a);
      }
    }
    if (options.idle_timeout.count() > 0) {
      argv.push_back("--idle-timeout");
      argv.push_back(std::to_string(static_cast<double>(options.idle_timeout.count()) / 1000.0));
    }
    if (options.verbose) argv.push_back("--verbose");
    proc_ = std::make_unique<Process>(argv);
    const std::string ready = "READY " + std::to_string(port_) + "\n";
    bool up =
        waitFor(
            [&] { return !proc_->running() || proc_->output().find(ready) != std::string::npos; },
            options.ready_timeout) &&
        proc_->running();
    if (up) return;
    last_output = proc_->output();
    bool in_use = last_output.find("Address already in use") != std::string::npos;
    proc_->kill();
    if (!in_use) break;
  }
  throw std::runtime_error("http_backend.py did not become ready on port " + std::to_string(port_) +
                           "; output:\n" + last_output);
}

HttpBackend::~HttpBackend() {
  if (proc_ && ::testing::Test::HasFailure()) {
    std::fprintf(stderr, "---- http_backend.py output (port %u) ----\n%s---- end ----\n",
                 static_cast<unsigned>(port_), tail(proc_->output(), 8000).c_str());
  }
}

std::string HttpBackend::url(const std::string& target) const {
  return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) + target;
}

BackendStats HttpBackend::stats() {
  auto r = http("GET", plain_port_, "/__stats", milliseconds(3000));
  if (r.status != 200) {
    throw std::runtime_error("http_backend.py on port " + std::to_string(plain_port_) +
                             ": GET /__stats failed: " + shown(r.raw));
  }
  auto v = parseJson(r.body).as_object();
  BackendStats s;
  s.connections = v.at("connections").to_number<long>();
  s.requests = v.at("requests").to_number<long>();
  s.open = v.at("open").to_number<long>();
  s.accepted = v.at("accepted").to_number<long>();
  return s;
}

BackendStats HttpBackend::waitStats(const std::function<bool(const BackendStats&)>& pred,
                                    milliseconds deadline) {
  BackendStats s;
  waitFor(
      [&] {
        s = stats();
        return pred(s);
      },
      deadline);
  return s;
}

boost::json::array HttpBackend::conns() {
  auto r = http("GET", plain_port_, "/__conns", milliseconds(3000));
  if (r.status != 200) {
    throw std::runtime_error("http_backend.py: GET /__conns failed: " + shown(r.raw));
  }
  return parseJson(r.body).as_array();
}

// ---------------------------------------------------------------------------------------------
// Nginx

namespace {

// The request headers /echo-headers reports, as nginx variable suffixes ($http_<name>).
const char* const kEchoedHeaders[] = {
    "host",
    "user_agent",
    "connection",
    "x_request_id",
    "traceparent",
    "tracestate",
    "x_b3_traceid",
    "x_b3_spanid",
    "x_b3_sampled",
    "x_forwarded_for",
    "x_forwarded_proto",
    "x_forwarded_host",
    "forwarded",
    "via",
    "x_real_ip",
    "x_test",
    "content_length",
    "transfer_encoding",
    "te",
    "upgrade",
};

std::string nginxConfig(const Nginx::Options& o, const std::string& dir, uint16_t port,
                        uint16_t tls_port) {
  std::string echo =
      "method: $request_method\\nuri: $request_uri\\nversion: $server_protocol\\n"
      "scheme: $scheme\\nconnection-serial: $connection\\n"
      "connection-requests: $connection_requests\\n";
  for (const char* h : kEchoedHeaders) {
    std::string name = h;
    std::replace(name.begin(), name.end(), '_', '-');
    echo += name + ": $http_" + h + "\\n";
  }
  std::string body;
  for (char c : o.body) {
    if (c == '\n') {
      body += "\\n";
    } else if (c == '"' || c == '\\' || c == '$') {
      // nginx has no escape for '$' in a return string: keep it out of the body.
      if (c == '$') throw std::runtime_error("Nginx: Options::body may not contain '$'");
      body += '\\';
      body += c;
    } else {
      body += c;
    }
  }
  std::string listen = "    listen 127.0.0.1:" + std::to_string(port) + ";\n";
  if (tls_port) {
    listen += "    listen 127.0.0.1:" + std::to_string(tls_port) + " ssl" +
              (o.tls_http2 ? " http2" : "") + ";\n    ssl_certificate " + o.tls_cert +
              ";\n    ssl_certificate_key " + o.tls_key + ";\n";
  }
  std::string upstream, proxy;
  if (o.upstream_port) {
    upstream = "  upstream pf_backend {\n    server 127.0.0.1:" + std::to_string(o.upstream_port) +
               ";\n    keepalive 16;\n  }\n";
    proxy = R"(    location /proxy/ {
      proxy_pass http://pf_backend/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
)";
  }
  return render(R"(# Written by the pilotfish integration-test harness.
${USER}daemon off;
master_process off;
worker_processes 1;
pid ${DIR}/nginx.pid;
error_log ${DIR}/error.log info;
events {
  worker_connections 1024;
}
http {
  default_type text/plain;
  client_body_temp_path ${DIR}/tmp/body;
  proxy_temp_path ${DIR}/tmp/proxy;
  fastcgi_temp_path ${DIR}/tmp/fastcgi;
  uwsgi_temp_path ${DIR}/tmp/uwsgi;
  scgi_temp_path ${DIR}/tmp/scgi;
  keepalive_timeout ${KEEPALIVE_TIMEOUT};
  keepalive_requests ${KEEPALIVE_REQUESTS};
  log_format pf escape=json '{"connection":$connection,"connection_requests":$connection_requests,'
    '"status":$status,"method":"$request_method","uri":"$request_uri","scheme":"$scheme",'
    '"host":"$host","remote_port":$remote_port,"bytes_sent":$bytes_sent,'
    '"x_request_id":"$http_x_request_id","traceparent":"$http_traceparent"}';
  access_log ${DIR}/access.log pf;
${EXTRA_HTTP}
${UPSTREAM}  server {
${LISTEN}    server_name _;
${EXTRA_SERVER}
    location = /__ready {
      access_log off;
      return 200 "ready\n";
    }
    location = /echo-headers {
      return 200 "${ECHO}";
    }
    location /static/ {
      alias ${DIR}/static/;
    }
${PROXY}    location / {
      return 200 "${BODY}";
    }
  }
}
)",
                {{"USER", ::geteuid() == 0 ? "user root;\n" : ""},
                 {"DIR", dir},
                 {"KEEPALIVE_TIMEOUT", o.keepalive_timeout},
                 {"KEEPALIVE_REQUESTS", std::to_string(o.keepalive_requests)},
                 {"EXTRA_HTTP", o.extra_http},
                 {"UPSTREAM", upstream},
                 {"LISTEN", listen},
                 {"EXTRA_SERVER", o.extra_server},
                 {"ECHO", echo},
                 {"PROXY", proxy},
                 {"BODY", body}});
}

}  // namespace

Nginx::Nginx() : Nginx(Options{}) {}

Nginx::Nginx(Options options) {
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    throw std::runtime_error("Nginx: tls_cert and tls_key go together");
  }
  const bool tls = !options.tls_cert.empty();
  dir_ = makeTempDir("nginx");
  fs::create_directories(dir_ + "/tmp");
  fs::create_directories(dir_ + "/static");
  writeFile(dir_ + "/static/10k", std::string(10240, 'n'));
  std::string why;
  for (int attempt = 0; attempt < 3; ++attempt) {
    port_ = freePort();
    tls_port_ = tls ? freePort() : 0;
    config_ = nginxConfig(options, dir_, port_, tls_port_);
    writeFile(dir_ + "/nginx.conf", config_);
    std::error_code ec;
    fs::remove(dir_ + "/error.log", ec);
    proc_ = std::make_unique<Process>(std::vector<std::string>{
        "nginx", "-p", dir_, "-c", dir_ + "/nginx.conf", "-e", dir_ + "/error.log"});
    bool up = waitFor(
                  [&] {
                    return !proc_->running() ||
                           http("GET", port_, "/__ready", milliseconds(500)).status == 200;
                  },
                  options.ready_timeout) &&
              proc_->running();
    if (up) return;
    why = (proc_->running() ? "not ready in time" : "exited") + std::string("; output:\n") +
          proc_->output() + "\nerror log:\n" + errorLog();
    bool in_use = why.find("Address already in use") != std::string::npos;
    proc_->kill();
    if (!in_use) break;
  }
  throw std::runtime_error("nginx " + why + "\nconfig:\n" + config_);
}

Nginx::~Nginx() {
  if (proc_ && ::testing::Test::HasFailure()) {
    std::fprintf(stderr, "---- nginx error log (%s) ----\n%s---- end ----\n", dir_.c_str(),
                 tail(errorLog(), 8000).c_str());
  }
}

std::string Nginx::errorLog() const {
  return slurp(dir_ + "/error.log");
}

std::vector<NginxLogLine> Nginx::accessLog() const {
  std::vector<NginxLogLine> out;
  std::string text = slurp(accessLogPath());
  std::size_t pos = 0;
  while (true) {
    auto nl = text.find('\n', pos);
    if (nl == std::string::npos) break;  // a line still being written
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty()) continue;
    auto v = parseJson(line).as_object();
    NginxLogLine l;
    l.connection = v.at("connection").to_number<long>();
    l.connection_requests = v.at("connection_requests").to_number<long>();
    l.status = v.at("status").to_number<int>();
    l.method = v.at("method").as_string().c_str();
    l.uri = v.at("uri").as_string().c_str();
    l.scheme = v.at("scheme").as_string().c_str();
    l.host = v.at("host").as_string().c_str();
    l.remote_port = v.at("remote_port").to_number<long>();
    l.bytes_sent = v.at("bytes_sent").to_number<long>();
    l.x_request_id = v.at("x_request_id").as_string().c_str();
    l.traceparent = v.at("traceparent").as_string().c_str();
    l.raw = line;
    out.push_back(std::move(l));
  }
  return out;
}

std::vector<NginxLogLine> Nginx::waitAccessLog(std::size_t n, milliseconds deadline) const {
  std::vector<NginxLogLine> lines;
  waitFor(
      [&] {
        lines = accessLog();
        return lines.size() >= n;
      },
      deadline);
  return lines;
}

std::size_t Nginx::connectionsLogged() const {
  std::set<long> seen;
  for (const auto& l : accessLog()) seen.insert(l.connection);
  return seen.size();
}

}  // namespace pilotfish::it
