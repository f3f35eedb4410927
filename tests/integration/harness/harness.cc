#include "integration/harness/harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <stdexcept>

// Boost.JSON, header-only: its implementation is compiled into this one translation unit.
#include <gtest/gtest.h>
#include <boost/json/src.hpp>

extern char** environ;

namespace pilotfish::it {

namespace fs = std::filesystem;

namespace {

std::string errnoText(int err) {
  return std::strerror(err);
}

sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

int remainingMs(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
  if (left < 0) return 0;
  if (left > std::numeric_limits<int>::max()) return std::numeric_limits<int>::max();
  return static_cast<int>(left);
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Ignore SIGPIPE in the test process: a peer closing while we write must be an error code.
struct IgnoreSigpipe {
  IgnoreSigpipe() { ::signal(SIGPIPE, SIG_IGN); }
} ignore_sigpipe;

struct TempRoot {
  std::mutex mu;
  std::string path;
  ~TempRoot() {
    if (path.empty()) return;
    // Keep the files when asked (debugging a failure); remove them otherwise.
    if (std::getenv("PILOTFISH_IT_KEEP_TEMP")) return;
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};
TempRoot& tempRoot() {
  static TempRoot root;
  return root;
}

std::string resolveInPath(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/local/bin:/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= p.size()) {
    auto colon = p.find(':', start);
    std::string dir =
        p.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return name;  // exec will fail with ENOENT; the child exits 127
}

ExitStatus fromWaitStatus(int st) {
  ExitStatus e;
  if (WIFEXITED(st)) {
    e.exited = true;
    e.code = WEXITSTATUS(st);
  } else if (WIFSIGNALED(st)) {
    e.signal = WTERMSIG(st);
  }
  return e;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

ReadEnd classifyRecvError(int err) {
  if (err == ECONNRESET || err == EPIPE || err == ECONNABORTED) return ReadEnd::kReset;
  return ReadEnd::kError;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Basics

uint16_t freePort() {
  static std::mutex mu;
  static std::set<uint16_t> handed_out;
  std::lock_guard lock(mu);
  for (int attempt = 0; attempt < 1000; ++attempt) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error("freePort: socket: " + errnoText(errno));
    auto a = loopback(0);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      int err = errno;
      ::close(fd);
      throw std::runtime_error("freePort: bind: " + errnoText(err));
    }
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    uint16_t port = ntohs(a.sin_port);
    if (handed_out.insert(port).second) return port;
  }
  throw std::runtime_error("freePort: no new free port after 1000 attempts");
}

bool waitFor(const std::function<bool()>& cond, milliseconds deadline) {
  auto end = Clock::now() + deadline;
  while (true) {
    if (cond()) return true;
    if (Clock::now() >= end) return cond();
    std::this_thread::sleep_for(milliseconds(10));
  }
}

std::string tempDir() {
  auto& root = tempRoot();
  std::lock_guard lock(root.mu);
  if (root.path.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/pilotfish-it-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!::mkdtemp(buf.data())) throw std::runtime_error("mkdtemp: " + errnoText(errno));
    root.path = buf.data();
  }
  return root.path;
}

std::string writeTempFile(const std::string& text, const std::string& suffix) {
  std::string tmpl = tempDir() + "/file-XXXXXX" + suffix;
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  int fd = ::mkstemps(buf.data(), static_cast<int>(suffix.size()));
  if (fd < 0) throw std::runtime_error("mkstemps: " + errnoText(errno));
  std::size_t off = 0;
  while (off < text.size()) {
    auto n = ::write(fd, text.data() + off, text.size() - off);
    if (n <= 0) {
      int err = errno;
      ::close(fd);
      throw std::runtime_error("write temp file: " + errnoText(err));
    }
    off += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return buf.data();
}

std::string render(const std::string& tmpl, const std::map<std::string, std::string>& vars) {
  std::string out;
  std::size_t pos = 0;
  while (true) {
    auto open = tmpl.find("${", pos);
    if (open == std::string::npos) {
      out += tmpl.substr(pos);
      return out;
    }
    auto close = tmpl.find('}', open);
    if (close == std::string::npos) throw std::runtime_error("render: unterminated ${");
    out += tmpl.substr(pos, open - pos);
    auto key = tmpl.substr(open + 2, close - open - 2);
    auto it = vars.find(key);
    if (it == vars.end()) throw std::runtime_error("render: no value for ${" + key + "}");
    out += it->second;
    pos = close + 1;
  }
}

long rssKiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

int openFds(pid_t pid) {
  std::error_code ec;
  int n = 0;
  for (fs::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    ++n;
  }
  return ec ? -1 : n;
}

double cpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto rp = text.rfind(')');  // the command name may contain spaces
  if (rp == std::string::npos) return -1;
  std::istringstream f(text.substr(rp + 2));
  std::string field;
  // Fields after the name start at 3 (state); utime is 14, stime 15.
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && f >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double msSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// ---------------------------------------------------------------------------------------------
// Process

std::string ExitStatus::describe() const {
  if (exited) return "exit code " + std::to_string(code);
  return "killed by signal " + std::to_string(signal) + " (" + strsignal(signal) + ")";
}

Process::Process(std::vector<std::string> argv) : Process(std::move(argv), Options{}) {}

Process::Process(std::vector<std::string> argv, Options options) : argv_(std::move(argv)) {
  if (argv_.empty()) throw std::runtime_error("Process: empty argv");
  // Everything the child needs is prepared before fork: after fork only async-signal-safe calls.
  std::string path = resolveInPath(argv_[0]);
  std::vector<char*> cargv;
  for (auto& a : argv_) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  std::vector<std::string> env_store;
  for (char** e = environ; e && *e; ++e) {
    std::string entry = *e;
    std::string key = entry.substr(0, entry.find('='));
    bool replaced = false;
    for (const auto& x : options.env) replaced |= x.substr(0, x.find('=')) == key;
    if (!replaced) env_store.push_back(std::move(entry));
  }
  for (const auto& e : options.env) env_store.push_back(e);
  std::vector<char*> cenv;
  for (auto& e : env_store) cenv.push_back(e.data());
  cenv.push_back(nullptr);

  out_path_ = writeTempFile("", ".out");
  int out_fd = ::open(out_path_.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  int err_fd = -1;
  if (options.separate_stderr) {
    err_path_ = writeTempFile("", ".err");
    err_fd = ::open(err_path_.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  }
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (out_fd < 0 || null_fd < 0 || (options.separate_stderr && err_fd < 0)) {
    throw std::runtime_error("Process: cannot open output files: " + errnoText(errno));
  }

  const bool set_nofile = options.nofile.has_value();
  rlimit nofile{};
  if (set_nofile) {
    nofile.rlim_cur = options.nofile->first;
    nofile.rlim_max = options.nofile->second;
  }

  pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    ::close(out_fd);
    ::close(null_fd);
    if (err_fd >= 0) ::close(err_fd);
    throw std::runtime_error("fork: " + errnoText(err));
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    ::dup2(null_fd, 0);
    ::dup2(out_fd, 1);
    ::dup2(err_fd >= 0 ? err_fd : out_fd, 2);
    // No descriptor of the test process (sockets above all) may leak into the child: a leaked
    // copy would keep a connection open after the test closed its end.
    if (::syscall(SYS_close_range, 3U, ~0U, 0U) != 0) {
      for (int fd = 3; fd < 65536; ++fd) ::close(fd);
    }
    if (set_nofile && ::setrlimit(RLIMIT_NOFILE, &nofile) != 0) {
      const char msg[] = "harness: setrlimit failed\n";
      [[maybe_unused]] auto ignored = ::write(2, msg, sizeof msg - 1);
      ::_exit(127);
    }
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::execve(path.c_str(), cargv.data(), cenv.data());
    const char msg[] = "harness: exec failed\n";
    [[maybe_unused]] auto ignored = ::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also from the parent: no window where the child is in our group
  pid_ = pid;
  ::close(out_fd);
  ::close(null_fd);
  if (err_fd >= 0) ::close(err_fd);
}

Process::~Process() {
  kill();
}

void Process::kill() {
  if (pid_ <= 0 || status_) return;
  ::kill(-pid_, SIGKILL);
  ::kill(pid_, SIGKILL);
  int st = 0;
  while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
  }
  status_ = fromWaitStatus(st);
}

void Process::signal(int sig) {
  if (pid_ > 0 && !status_) ::kill(pid_, sig);
}

bool Process::running() {
  if (status_) return false;
  int st = 0;
  pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = fromWaitStatus(st);
    return false;
  }
  return true;
}

std::optional<ExitStatus> Process::wait(milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (running()) {
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return status_;
}

std::string Process::output() const {
  return readFile(out_path_);
}
std::string Process::errorOutput() const {
  return err_path_.empty() ? std::string() : readFile(err_path_);
}

CommandResult runCommand(std::vector<std::string> argv, milliseconds timeout) {
  Process p(std::move(argv), Process::Options{.separate_stderr = true});
  CommandResult r;
  r.status = p.wait(timeout);
  if (!r.status) p.kill();
  r.out = p.output();
  r.err = p.errorOutput();
  return r;
}

// ---------------------------------------------------------------------------------------------
// HTTP

std::string HttpResponse::header(const std::string& name) const {
  auto it = headers.find(lower(name));
  return it == headers.end() ? std::string() : it->second;
}

HttpResponse httpRaw(uint16_t port, const std::string& request, milliseconds timeout) {
  HttpResponse r;
  auto deadline = Clock::now() + timeout;
  TcpClient c;
  if (c.connect(port, timeout) != 0) return r;
  if (!c.sendAll(request, milliseconds(remainingMs(deadline)))) {
    // The server may answer (and close) before reading all of an oversized request: go on
    // and read whatever it sent.
  }
  std::string data;
  c.waitClosed(milliseconds(remainingMs(deadline)), &data);
  r.raw = data;
  auto head_end = data.find("\r\n\r\n");
  if (head_end == std::string::npos) return r;
  std::istringstream head(data.substr(0, head_end));
  std::string line;
  std::getline(head, line);
  if (line.rfind("HTTP/1.", 0) != 0 || line.size() < 12) return r;
  r.status = std::atoi(line.c_str() + 9);
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    r.headers[lower(line.substr(0, colon))] = trim(line.substr(colon + 1));
  }
  r.body = data.substr(head_end + 4);
  return r;
}

HttpResponse http(const std::string& method, uint16_t port, const std::string& target,
                  milliseconds timeout) {
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                    "\r\nConnection: close\r\n";
  if (method == "POST" || method == "PUT") req += "Content-Length: 0\r\n";
  req += "\r\n";
  return httpRaw(port, req, timeout);
}

boost::json::value parseJson(const std::string& text) {
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec) throw std::runtime_error("invalid JSON (" + ec.message() + "): " + text);
  return v;
}

namespace {

// Parses `name{k="v",...}` starting at `s[i]`; leaves i after the closing brace (or the name).
void parseSeries(const std::string& s, std::size_t& i, std::string& name,
                 std::map<std::string, std::string>& labels) {
  auto start = i;
  while (i < s.size() &&
         (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '_' || s[i] == ':')) {
    ++i;
  }
  name = s.substr(start, i - start);
  if (name.empty()) throw std::runtime_error("metrics: no metric name in: " + s);
  if (i >= s.size() || s[i] != '{') return;
  ++i;
  while (i < s.size() && s[i] != '}') {
    auto eq = s.find('=', i);
    if (eq == std::string::npos || eq + 1 >= s.size() || s[eq + 1] != '"') {
      throw std::runtime_error("metrics: bad label in: " + s);
    }
    std::string key = trim(s.substr(i, eq - i));
    std::string value;
    std::size_t j = eq + 2;
    for (; j < s.size() && s[j] != '"'; ++j) {
      if (s[j] == '\\' && j + 1 < s.size()) {
        ++j;
        value += s[j] == 'n' ? '\n' : s[j];
      } else {
        value += s[j];
      }
    }
    if (j >= s.size()) throw std::runtime_error("metrics: unterminated label value in: " + s);
    labels[key] = value;
    i = j + 1;
    if (i < s.size() && s[i] == ',') ++i;
  }
  if (i >= s.size()) throw std::runtime_error("metrics: unterminated label set in: " + s);
  ++i;  // '}'
}

double parseValue(const std::string& v) {
  if (v == "+Inf") return std::numeric_limits<double>::infinity();
  if (v == "-Inf") return -std::numeric_limits<double>::infinity();
  if (v == "NaN") return std::numeric_limits<double>::quiet_NaN();
  char* end = nullptr;
  double d = std::strtod(v.c_str(), &end);
  if (end == v.c_str() || *end != '\0') throw std::runtime_error("metrics: bad value " + v);
  return d;
}

}  // namespace

std::vector<Sample> parseMetrics(const std::string& text) {
  std::vector<Sample> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    Sample s;
    std::size_t i = 0;
    parseSeries(line, i, s.name, s.labels);
    if (i >= line.size() || line[i] != ' ') throw std::runtime_error("metrics: bad line: " + line);
    auto rest = line.substr(i + 1);
    auto sp = rest.find(' ');  // optional timestamp
    s.value = parseValue(sp == std::string::npos ? rest : rest.substr(0, sp));
    out.push_back(std::move(s));
  }
  return out;
}

double metric(uint16_t admin_port, const std::string& series) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Sample want;
  std::size_t i = 0;
  parseSeries(series, i, want.name, want.labels);
  auto r = http("GET", admin_port, "/metrics");
  if (r.status != 200) return nan;
  for (const auto& s : parseMetrics(r.body)) {
    if (s.name == want.name && s.labels == want.labels) return s.value;
  }
  return nan;
}

// ---------------------------------------------------------------------------------------------
// TcpClient

const char* toString(ReadEnd e) {
  switch (e) {
    case ReadEnd::kData: return "data";
    case ReadEnd::kEof: return "EOF";
    case ReadEnd::kReset: return "reset";
    case ReadEnd::kTimeout: return "timeout";
    case ReadEnd::kError: return "error";
  }
  return "?";
}

TcpClient::~TcpClient() {
  close();
}
TcpClient::TcpClient(TcpClient&& o) noexcept : fd_(o.fd_) {
  o.fd_ = -1;
}
TcpClient& TcpClient::operator=(TcpClient&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

int TcpClient::connect(uint16_t port, milliseconds timeout) {
  close();
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return errno;
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  auto a = loopback(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    if (errno != EINPROGRESS) {
      int err = errno;
      ::close(fd);
      return err;
    }
    pollfd p{fd, POLLOUT, 0};
    int n = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (n <= 0) {
      ::close(fd);
      return ETIMEDOUT;
    }
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      ::close(fd);
      return err;
    }
  }
  fd_ = fd;
  return 0;
}

bool TcpClient::sendAll(const std::string& data, milliseconds timeout) {
  if (fd_ < 0) return false;
  auto deadline = Clock::now() + timeout;
  std::size_t off = 0;
  while (off < data.size()) {
    long n = sendSome(data.data() + off, data.size() - off);
    if (n < 0) return false;
    if (n > 0) {
      off += static_cast<std::size_t>(n);
      continue;
    }
    pollfd p{fd_, POLLOUT, 0};
    if (::poll(&p, 1, remainingMs(deadline)) <= 0) return false;
  }
  return true;
}

long TcpClient::sendSome(const char* data, std::size_t n) {
  if (fd_ < 0) return -EBADF;
  auto r = ::send(fd_, data, n, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (r >= 0) return r;
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
  return -errno;
}

ReadEnd TcpClient::recvSome(std::string& out, milliseconds timeout) {
  if (fd_ < 0) return ReadEnd::kError;
  auto deadline = Clock::now() + timeout;
  char buf[64 * 1024];
  while (true) {
    auto n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      out.append(buf, static_cast<std::size_t>(n));
      return ReadEnd::kData;
    }
    if (n == 0) return ReadEnd::kEof;
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return classifyRecvError(errno);
    int left = remainingMs(deadline);
    if (left <= 0) return ReadEnd::kTimeout;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, left) == 0) return ReadEnd::kTimeout;
  }
}

ReadEnd TcpClient::recvAtLeast(std::string& out, std::size_t n, milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (out.size() < n) {
    auto r = recvSome(out, milliseconds(remainingMs(deadline)));
    if (r != ReadEnd::kData) return r;
  }
  return ReadEnd::kData;
}

ReadEnd TcpClient::waitClosed(milliseconds timeout, std::string* drained) {
  auto deadline = Clock::now() + timeout;
  std::string sink;
  while (true) {
    auto r = recvSome(drained ? *drained : sink, milliseconds(remainingMs(deadline)));
    if (r != ReadEnd::kData) return r;
    if (!drained) sink.clear();
  }
}

std::pair<std::string, ReadEnd> TcpClient::exchange(const std::string& data, bool half_close,
                                                    milliseconds timeout) {
  std::string got;
  if (fd_ < 0) return {got, ReadEnd::kError};
  auto deadline = Clock::now() + timeout;
  std::size_t off = 0;
  bool shut = false;
  char buf[64 * 1024];
  while (true) {
    if (off == data.size() && half_close && !shut) {
      shutdownWrite();
      shut = true;
    }
    pollfd p{fd_, static_cast<short>(POLLIN | (off < data.size() ? POLLOUT : 0)), 0};
    int left = remainingMs(deadline);
    if (left <= 0 || ::poll(&p, 1, left) == 0) return {got, ReadEnd::kTimeout};
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      auto n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        got.append(buf, static_cast<std::size_t>(n));
      } else if (n == 0) {
        return {got, ReadEnd::kEof};
      } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        return {got, classifyRecvError(errno)};
      }
    }
    if (off < data.size() && (p.revents & POLLOUT)) {
      long n = sendSome(data.data() + off, std::min<std::size_t>(data.size() - off, 64 * 1024));
      if (n < 0) return {got, classifyRecvError(static_cast<int>(-n))};
      off += static_cast<std::size_t>(n);
    }
  }
}

bool TcpClient::echoRoundTrip(const std::string& data, milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  if (!sendAll(data, timeout)) return false;
  std::string got;
  if (recvAtLeast(got, data.size(), milliseconds(remainingMs(deadline))) != ReadEnd::kData) {
    return false;
  }
  return got == data;
}

void TcpClient::shutdownWrite() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

void TcpClient::abort() {
  if (fd_ < 0) return;
  linger l{1, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close();
}

void TcpClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

// ---------------------------------------------------------------------------------------------
// TestServer

struct TestServer::Conn {
  int fd = -1;
  std::atomic<bool> abort{false};
  std::atomic<bool> closed{false};
};

TestServer::TestServer(Mode mode) : mode_(mode) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (listen_fd_ < 0) throw std::runtime_error("TestServer: socket: " + errnoText(errno));
  for (int attempt = 0;; ++attempt) {
    port_ = freePort();
    auto a = loopback(port_);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) break;
    if (attempt > 20) throw std::runtime_error("TestServer: bind: " + errnoText(errno));
  }
  if (::listen(listen_fd_, 4096) != 0) {
    throw std::runtime_error("TestServer: listen: " + errnoText(errno));
  }
  accept_thread_ = std::thread([this] { acceptLoop(); });
}

TestServer::~TestServer() {
  stop_ = true;
  if (accept_thread_.joinable()) accept_thread_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    threads.swap(threads_);
  }
  for (auto& t : threads) t.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

void TestServer::stopListening() {
  // The accept thread owns the listening socket; it closes it when it sees stop_listening.
  stop_listening_ = true;
  if (accept_thread_.joinable()) accept_thread_.join();
}

void TestServer::acceptLoop() {
  while (!stop_ && !stop_listening_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 10) <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ++accepted_;
    ++open_;
    auto c = std::make_shared<Conn>();
    c->fd = fd;
    std::lock_guard lock(mu_);
    conns_.push_back(c);
    threads_.emplace_back([this, c] { serve(c); });
  }
  if (stop_listening_) {
    ::close(listen_fd_);
    listen_fd_ = -1;
  }
}

void TestServer::serve(std::shared_ptr<Conn> c) {
  const int fd = c->fd;
  auto finish = [&](bool reset) {
    if (reset) {
      linger l{1, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    ::close(fd);
    c->closed = true;
    --open_;
  };
  auto stopped = [&] { return stop_.load() || c->abort.load(); };
  // Writes all of buf unless stopped; false on error/stop.
  auto writeAll = [&](const char* data, std::size_t n) {
    std::size_t off = 0;
    while (off < n) {
      if (stopped()) return false;
      auto w = ::send(fd, data + off, n - off, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w > 0) {
        off += static_cast<std::size_t>(w);
        bytes_out_ += static_cast<uint64_t>(w);
        continue;
      }
      if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, 10);
    }
    return true;
  };
  std::vector<char> buf(64 * 1024);

  if (mode_ == Mode::kGreetHalfClose) {
    if (!writeAll("bye\n", 4)) return finish(c->abort);
    ::shutdown(fd, SHUT_WR);
  }
  while (!stopped()) {
    if (mode_ == Mode::kHold) {
      ::poll(nullptr, 0, 10);
      continue;
    }
    if (mode_ == Mode::kFlood) {
      if (!writeAll(buf.data(), buf.size())) break;
      continue;
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10) <= 0) continue;
    auto n = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
    if (n > 0) {
      bytes_in_ += static_cast<uint64_t>(n);
      if (mode_ == Mode::kEcho && !writeAll(buf.data(), static_cast<std::size_t>(n))) break;
      continue;
    }
    if (n == 0) {
      ++eofs_;
      if (mode_ == Mode::kEcho) ::shutdown(fd, SHUT_WR);
      break;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) break;
  }
  finish(c->abort);
}

void TestServer::abortAll() {
  std::vector<std::shared_ptr<Conn>> list;
  {
    std::lock_guard lock(mu_);
    list = conns_;
  }
  for (auto& c : list) c->abort = true;
  waitFor(
      [&] {
        for (auto& c : list) {
          if (!c->closed) return false;
        }
        return true;
      },
      milliseconds(5000));
}

// ---------------------------------------------------------------------------------------------
// Redis

bool redisPing(uint16_t port, milliseconds timeout) {
  TcpClient c;
  if (c.connect(port, timeout) != 0) return false;
  if (!c.sendAll("PING\r\n", timeout)) return false;
  std::string got;
  auto deadline = Clock::now() + timeout;
  while (got.find("\r\n") == std::string::npos) {
    if (c.recvSome(got, milliseconds(remainingMs(deadline))) != ReadEnd::kData) return false;
  }
  return got.rfind("+PONG\r\n", 0) == 0;
}

Redis::Redis() {
  port_ = freePort();
  proc_ = std::make_unique<Process>(
      std::vector<std::string>{"redis-server", "--port", std::to_string(port_), "--save", "",
                               "--appendonly", "no", "--bind", "127.0.0.1", "--dir", tempDir()});
  bool up = waitFor([&] { return !proc_->running() || redisPing(port_, milliseconds(200)); },
                    milliseconds(10000)) &&
            proc_->running();
  if (!up) {
    throw std::runtime_error("redis-server on port " + std::to_string(port_) +
                             " did not answer PING; output:\n" + proc_->output());
  }
}

std::string Redis::cli(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"redis-cli", "-h", "127.0.0.1", "-p", std::to_string(port_)};
  argv.insert(argv.end(), args.begin(), args.end());
  return trim(runCommand(argv, milliseconds(10000)).out);
}

// ---------------------------------------------------------------------------------------------
// Pilotfish

Pilotfish::Pilotfish(const std::string& yaml) : Pilotfish(yaml, Options{}) {}

Pilotfish::Pilotfish(const std::string& yaml, Options options) {
  std::string text = yaml;
  if (options.admin_port == 0) {
    admin_port_ = freePort();
    if (!text.empty() && text.back() != '\n') text += '\n';
    text += "admin: {address: 127.0.0.1:" + std::to_string(admin_port_) + "}\n";
  } else {
    admin_port_ = options.admin_port;
  }
  config_path_ = writeTempFile(text, ".yaml");
  std::vector<std::string> argv = options.wrapper;
  for (const char* a : {PILOTFISH_BINARY, "run", "-c"}) argv.emplace_back(a);
  argv.push_back(config_path_);
  argv.insert(argv.end(), options.extra_args.begin(), options.extra_args.end());
  proc_ = std::make_unique<Process>(std::move(argv),
                                    Process::Options{.env = options.env, .nofile = options.nofile});
  if (!options.wait_ready) return;
  bool up = waitFor([&] { return !proc_->running() || ready(); }, options.ready_timeout) &&
            proc_->running();
  if (!up) {
    std::string why = proc_->running()
                          ? "not ready in time"
                          : "exited (" + proc_->wait(milliseconds(0))->describe() + ")";
    throw std::runtime_error("pilotfish " + why + "; config:\n" + text + "\noutput:\n" +
                             proc_->output());
  }
}

Pilotfish::~Pilotfish() {
  // Stop it the way an operator would, so that what happens at exit is checked too: a clean
  // exit is code 0, and a sanitizer build reports leaks and errors there.
  if (proc_->running()) {
    proc_->signal(SIGTERM);
    auto st = proc_->wait(milliseconds(5000));
    if (!st) {
      proc_->kill();  // connections the test left open may hold the drain; not a failure
    } else if (!st->exited || st->code != 0) {
      ADD_FAILURE() << "pilotfish (pid " << proc_->pid() << ") ended with " << st->describe()
                    << " after SIGTERM";
    }
  }
  std::string out = proc_->output();
  for (const char* marker : {"AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                             "runtime error:", "ThreadSanitizer"}) {
    if (out.find(marker) != std::string::npos) {
      ADD_FAILURE() << "sanitizer report (" << marker << ") in pilotfish's output";
      break;
    }
  }
  // Print the log of a failed test: the first thing one needs to see.
  if (::testing::Test::HasFailure()) {
    std::fprintf(stderr, "---- pilotfish output (pid %d) ----\n%s---- end ----\n",
                 static_cast<int>(proc_->pid()), out.c_str());
  }
}

bool Pilotfish::ready() {
  return http("GET", admin_port_, "/ready", milliseconds(1000)).status == 200;
}

double Pilotfish::waitMetric(const std::string& series, const std::function<bool(double)>& pred,
                             milliseconds deadline) {
  double v = std::numeric_limits<double>::quiet_NaN();
  waitFor(
      [&] {
        v = metric(series);
        return !std::isnan(v) && pred(v);
      },
      deadline);
  return v;
}

}  // namespace pilotfish::it
