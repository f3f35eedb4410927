#pragma once
// Integration-test harness: runs the built pilotfish binary and real peers (redis-server, nginx,
// the Python HTTP backend in tests/integration/backends/, small in-process TCP servers) on
// loopback, and talks to them with blocking POSIX sockets (or curl).
//
// Parallel safety (ctest -j runs every test case as its own process): every port comes from
// freePort(), every file lives in a per-process temp dir (mkdtemp), every child runs in its own
// process group and is killed when its owner goes out of scope.
//
// Synchronisation is always "poll with a deadline" (waitFor); never a fixed sleep.
// Helpers that cannot continue throw std::runtime_error (GoogleTest reports it as a failure
// with the message, which includes the child's output where that helps).

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/json/value.hpp>

#ifndef PILOTFISH_BINARY
#error "PILOTFISH_BINARY must be defined by the build (path of the pilotfish executable)"
#endif
#ifndef PILOTFISH_SOURCE_DIR
#error "PILOTFISH_SOURCE_DIR must be defined by the build"
#endif

namespace pilotfish::it {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// ---------------------------------------------------------------------------------------------
// Basics

/// A TCP port on 127.0.0.1 that was free a moment ago (bind :0, read, close). Never hands out the
/// same port twice in one process.
uint16_t freePort();

/// Polls `cond` every ~10ms until it is true or `deadline` has passed. Returns the last result.
bool waitFor(const std::function<bool()>& cond, milliseconds deadline);

/// This process's temp dir (created on first use, removed at exit).
std::string tempDir();

/// Writes `text` to a new unique file in tempDir() whose name ends with `suffix`. Returns its
/// path.
std::string writeTempFile(const std::string& text, const std::string& suffix = ".txt");

/// Replaces every "${KEY}" in `tmpl` with its value. Throws on a placeholder without a value.
std::string render(const std::string& tmpl, const std::map<std::string, std::string>& vars);

/// Resident set size of `pid` in KiB (VmRSS from /proc/<pid>/status); -1 if unavailable.
long rssKiB(pid_t pid);

/// Number of open file descriptors of `pid` (entries in /proc/<pid>/fd); -1 if unavailable.
int openFds(pid_t pid);

/// CPU time (user + system) `pid` has used so far, in seconds; -1 if unavailable.
double cpuSeconds(pid_t pid);

/// Milliseconds elapsed since `t`.
double msSince(Clock::time_point t);

// ---------------------------------------------------------------------------------------------
// Child processes

/// Exit status as returned by Process::wait: the exit code when the child exited, or 128 + the
/// signal number when a signal killed it (the shell convention).
struct ExitStatus {
  bool exited = false;  ///< exited normally (code valid)
  int code = -1;        ///< exit code when exited
  int signal = 0;       ///< terminating signal otherwise
  int shellCode() const { return exited ? code : 128 + signal; }
  std::string describe() const;
};

class Process {
 public:
  struct Options {
    bool separate_stderr = false;  ///< stderr to its own file (errorOutput()); else merged
    std::vector<std::string> env;  ///< "KEY=VALUE" entries added to (or replacing in) environ
    /// RLIMIT_NOFILE {soft, hard} for the child, set just before exec.
    std::optional<std::pair<uint64_t, uint64_t>> nofile;
  };

  /// fork/exec argv[0] (searched in PATH when it has no '/'), stdin from /dev/null, stdout and
  /// stderr to temp files, in a new process group. Throws when fork fails.
  explicit Process(std::vector<std::string> argv);
  Process(std::vector<std::string> argv, Options options);
  ~Process();  ///< SIGKILL to the whole process group if still running, then reaps.
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  /// Sends `sig` to the child (not its group). No-op once reaped.
  void signal(int sig);
  /// Waits up to `timeout` for the child to exit. nullopt while it is still running.
  std::optional<ExitStatus> wait(milliseconds timeout);
  /// True while the child has not exited (reaps it when it has).
  bool running();
  /// Everything the child wrote to stdout (and stderr unless separate_stderr) so far.
  std::string output() const;
  /// Everything written to stderr (only with separate_stderr).
  std::string errorOutput() const;
  /// SIGKILL the process group and reap.
  void kill();
  const std::vector<std::string>& argv() const { return argv_; }

 private:
  std::vector<std::string> argv_;
  pid_t pid_ = -1;
  std::optional<ExitStatus> status_;
  std::string out_path_;
  std::string err_path_;
};

struct CommandResult {
  std::optional<ExitStatus> status;  ///< nullopt: timed out (and was killed)
  std::string out;                   ///< stdout
  std::string err;                   ///< stderr
  bool ok() const { return status && status->exited && status->code == 0; }
};

/// Runs a command to completion (killed after `timeout`), capturing stdout and stderr apart.
CommandResult runCommand(std::vector<std::string> argv, milliseconds timeout = milliseconds(30000));

// ---------------------------------------------------------------------------------------------
// HTTP (admin API)

struct HttpResponse {
  int status = 0;  ///< 0: no response (connect failed, timeout, unparsable)
  std::map<std::string, std::string> headers;  ///< names lower-cased
  std::string body;
  std::string raw;  ///< everything received
  std::string header(const std::string& name) const;
  // Filled by parseResponse / readResponse / parseResponses (not by http / httpRaw):
  std::string version;  ///< "HTTP/1.1"
  std::string reason;   ///< reason phrase
  /// Every header line in received order, names as sent (duplicates kept).
  std::vector<std::pair<std::string, std::string>> header_list;
  bool chunked = false;  ///< the body came chunked (`body` is decoded)
  /// Number of header lines named `name` (case-insensitive).
  int headerCount(const std::string& name) const;
};

/// One blocking HTTP/1.1 request to 127.0.0.1:port ("Connection: close"; read until EOF).
HttpResponse http(const std::string& method, uint16_t port, const std::string& target,
                  milliseconds timeout = milliseconds(5000));
/// Sends `request` verbatim and parses whatever comes back.
HttpResponse httpRaw(uint16_t port, const std::string& request,
                     milliseconds timeout = milliseconds(5000));

/// Parses JSON; throws std::runtime_error with the text on failure.
boost::json::value parseJson(const std::string& text);

/// One Prometheus sample: metric name and labels.
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};
/// Parses text exposition format samples (comments skipped). Throws on a malformed line.
std::vector<Sample> parseMetrics(const std::string& text);

/// The value of the series `series` ("name" or `name{k="v",...}`; labels must match exactly,
/// in any order) scraped from /metrics at 127.0.0.1:port. NaN when the scrape failed or the
/// series is absent.
double metric(uint16_t admin_port, const std::string& series);

// ---------------------------------------------------------------------------------------------
// Raw TCP client

enum class ReadEnd { kData, kEof, kReset, kTimeout, kError };
const char* toString(ReadEnd e);

class TcpClient {
 public:
  TcpClient() = default;
  ~TcpClient();
  TcpClient(TcpClient&& o) noexcept;
  TcpClient& operator=(TcpClient&& o) noexcept;

  /// Blocking connect to 127.0.0.1:port. Returns 0 or the errno (ECONNREFUSED, ETIMEDOUT...).
  int connect(uint16_t port, milliseconds timeout = milliseconds(3000));
  bool connected() const { return fd_ >= 0; }
  int fd() const { return fd_; }

  /// Writes all of `data` (blocking, with a deadline). False on error or timeout.
  bool sendAll(const std::string& data, milliseconds timeout = milliseconds(5000));
  /// One non-blocking send; returns bytes written, 0 when it would block, -errno on error.
  long sendSome(const char* data, std::size_t n);
  /// Waits for one read. On kData, appends to `out`.
  ReadEnd recvSome(std::string& out, milliseconds timeout);
  /// Reads until `out` has at least `n` bytes. Returns kData when it has, else why it stopped.
  ReadEnd recvAtLeast(std::string& out, std::size_t n, milliseconds timeout);
  /// Reads (and discards into `drained`, if given) until EOF, reset or timeout.
  ReadEnd waitClosed(milliseconds timeout, std::string* drained = nullptr);
  /// Sends `data`, reading concurrently (so that neither side's buffers can deadlock), then
  /// shutdown(SHUT_WR) when `half_close`, and reads until EOF. Returns everything received and
  /// how the read side ended.
  std::pair<std::string, ReadEnd> exchange(const std::string& data, bool half_close,
                                           milliseconds timeout);
  /// send + recvAtLeast(data.size()): for echo peers.
  bool echoRoundTrip(const std::string& data, milliseconds timeout = milliseconds(3000));

  void shutdownWrite();
  /// Closes with RST (SO_LINGER 0).
  void abort();
  void close();

 private:
  int fd_ = -1;
};

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 on the wire (keepalive, pipelining, misbehaving peers)

/// What rawHttp got back.
struct RawExchange {
  int connect_error = 0;          ///< errno of the connect; 0 when connected
  std::string data;               ///< every byte received
  ReadEnd end = ReadEnd::kError;  ///< how reading stopped
  /// The peer closed (FIN or RST) rather than the deadline passing.
  bool peerClosed() const { return end == ReadEnd::kEof || end == ReadEnd::kReset; }
};
/// Connects to 127.0.0.1:port, sends `bytes` verbatim (reading concurrently) and reads until the
/// peer closes or `timeout` passes. Does not shut down its own write side: a keepalive peer that
/// answers and waits for more shows as end == kTimeout with the answer in `data`.
RawExchange rawHttp(uint16_t port, const std::string& bytes,
                    milliseconds timeout = milliseconds(5000));

/// Parses one HTTP/1.x response at the start of `data`, framed as RFC 9112 says: no body for
/// 1xx, 204, 304 and answers to HEAD (`head_request`), else chunked (decoded into `body`; it wins
/// over content-length), else content-length, else until EOF (complete only when `at_eof`).
/// Returns nullopt while `data` does not hold a complete response; sets `consumed` to the bytes
/// it took (also `raw`). Throws std::runtime_error on a malformed status line, header or chunk.
std::optional<HttpResponse> parseResponse(const std::string& data, std::size_t& consumed,
                                          bool at_eof, bool head_request = false);
/// Every complete response in `data` (what one connection received, up to its end), in order,
/// 1xx interim responses included. Trailing bytes that are not a complete response are ignored.
std::vector<HttpResponse> parseResponses(const std::string& data);
/// Reads the next complete response (an interim 1xx counts as one) from `c`, keeping bytes
/// beyond it in `buf` for the next call. nullopt when the connection ended or `timeout` passed
/// first (`end`, if given, says which).
std::optional<HttpResponse> readResponse(TcpClient& c, std::string& buf, milliseconds timeout,
                                         bool head_request = false, ReadEnd* end = nullptr);

// ---------------------------------------------------------------------------------------------
// In-process TCP peer (an upstream the test controls)

class TestServer {
 public:
  enum class Mode {
    kEcho,            ///< echoes every byte; on EOF shuts down its write side and closes
    kSink,            ///< reads and discards; closes on EOF
    kHold,            ///< accepts and never reads nor writes (a stuck upstream)
    kFlood,           ///< writes as fast as the peer takes it, never reads
    kGreetHalfClose,  ///< sends "bye\n", shutdown(SHUT_WR), then reads and counts until EOF
  };

  /// Listens on 127.0.0.1:freePort() at once; serves each connection on its own thread.
  explicit TestServer(Mode mode);
  ~TestServer();  ///< stops and joins everything
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  uint16_t port() const { return port_; }
  /// Connections accepted so far.
  int accepted() const { return accepted_.load(); }
  /// Connections currently open.
  int open() const { return open_.load(); }
  /// Bytes read from / written to all connections.
  uint64_t bytesIn() const { return bytes_in_.load(); }
  uint64_t bytesOut() const { return bytes_out_.load(); }
  /// Connections that saw EOF from their peer.
  int eofs() const { return eofs_.load(); }
  /// Resets every open connection (SO_LINGER 0 + close): a backend dying mid-stream.
  void abortAll();
  /// Stops listening (later connects are refused); open connections stay.
  void stopListening();

 private:
  struct Conn;
  void acceptLoop();
  void serve(std::shared_ptr<Conn> c);

  Mode mode_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> stop_listening_{false};
  std::atomic<int> accepted_{0};
  std::atomic<int> open_{0};
  std::atomic<int> eofs_{0};
  std::atomic<uint64_t> bytes_in_{0};
  std::atomic<uint64_t> bytes_out_{0};
  std::mutex mu_;
  std::vector<std::shared_ptr<Conn>> conns_;  // guarded by mu_
  std::vector<std::thread> threads_;          // guarded by mu_
  std::thread accept_thread_;
};

// ---------------------------------------------------------------------------------------------
// Real peers

/// redis-server on 127.0.0.1:freePort(), no persistence; ready (answers PING) when constructed.
class Redis {
 public:
  Redis();
  uint16_t port() const { return port_; }
  Process& process() { return *proc_; }
  /// Runs redis-cli against this server; returns trimmed stdout.
  std::string cli(const std::vector<std::string>& args);

 private:
  uint16_t port_ = 0;
  std::unique_ptr<Process> proc_;
};

/// Sends PING to 127.0.0.1:port (inline command) and checks for +PONG.
bool redisPing(uint16_t port, milliseconds timeout = milliseconds(1000));

/// The pilotfish binary under test, started on a YAML config.
class Pilotfish {
 public:
  struct Options {
    /// 0: the harness picks a free port and appends `admin: {address: 127.0.0.1:PORT}` to the
    /// YAML. Otherwise the YAML must configure admin itself on this port (or leave the default).
    uint16_t admin_port = 0;
    bool wait_ready = true;
    milliseconds ready_timeout{10000};
    std::vector<std::string> extra_args;  ///< after `run -c FILE`
    std::vector<std::string> wrapper;     ///< argv prefix, e.g. {"taskset", "-c", "0"}
    std::optional<std::pair<uint64_t, uint64_t>> nofile;  ///< RLIMIT_NOFILE {soft, hard}
    std::vector<std::string> env;  ///< "KEY=VALUE" entries for its environment
  };

  explicit Pilotfish(const std::string& yaml);
  Pilotfish(const std::string& yaml, Options options);
  ~Pilotfish();

  uint16_t adminPort() const { return admin_port_; }
  Process& process() { return *proc_; }
  pid_t pid() const { return proc_->pid(); }
  const std::string& configPath() const { return config_path_; }
  std::string output() const { return proc_->output(); }
  /// GET /ready answers 200.
  bool ready();
  /// metric() against this instance's admin port.
  double metric(const std::string& series) { return it::metric(admin_port_, series); }
  /// Waits until metric(series) satisfies pred; returns the last value seen.
  double waitMetric(const std::string& series, const std::function<bool(double)>& pred,
                    milliseconds deadline = milliseconds(5000));
  HttpResponse get(const std::string& target) { return http("GET", admin_port_, target); }

 private:
  std::string config_path_;
  uint16_t admin_port_ = 0;
  std::unique_ptr<Process> proc_;
};

// ---------------------------------------------------------------------------------------------
// TLS material, HTTP peers

/// A fresh directory under tempDir() whose name starts with `prefix`.
std::string makeTempDir(const std::string& prefix);

/// A certificate and its private key (PEM files).
struct TlsFiles {
  std::string cert;
  std::string key;
};

/// A throwaway CA made with the openssl CLI (EC P-256, valid 3 days) in its own directory under
/// tempDir(), and a server certificate it signed for `server_name` with subjectAltName
/// DNS:<server_name>, IP:127.0.0.1 (serverAuth). Throws with openssl's output on failure.
struct TestCa {
  explicit TestCa(const std::string& server_name = "test.pf.internal");

  std::string dir;          ///< holds all the files below
  std::string server_name;  ///< the DNS name in the server certificate
  std::string ca_cert;      ///< dir/ca.pem (what a client trusts: curl --cacert)
  std::string ca_key;       ///< dir/ca.key
  std::string server_cert;  ///< dir/server.pem
  std::string server_key;   ///< dir/server.key

  TlsFiles server() const { return {server_cert, server_key}; }

  /// A certificate's validity period in whole days from now (UTC); negative days are in the
  /// past: {-10, -1} is a certificate that expired yesterday, {1, 10} one not valid yet.
  struct Validity {
    int not_before_days = 0;
    int not_after_days = 3;
  };

  /// Issues another certificate signed by this CA as dir/<stem>.pem and dir/<stem>.key.
  /// `sans`: subjectAltName entries like "DNS:a.example" or "IP:127.0.0.1" (may be empty);
  /// `client`: extendedKeyUsage clientAuth instead of serverAuth;
  /// `validity`: the notBefore/notAfter dates (signed with `openssl ca`, which takes explicit
  /// dates, past ones included); without it the certificate is valid from now for 3 days.
  TlsFiles issue(const std::string& stem, const std::string& common_name,
                 const std::vector<std::string>& sans, bool client = false,
                 std::optional<Validity> validity = std::nullopt) const;
};

/// Counters of an HttpBackend (GET /__stats). Admin requests, and connections that carried only
/// admin requests, are not counted.
struct BackendStats {
  long connections = -1;  ///< TCP connections accepted
  long requests = -1;     ///< requests received
  long open = -1;         ///< connections open now
  long accepted = -1;     ///< every connection, the admin ones included
};

/// The Python test backend tests/integration/backends/http_backend.py on 127.0.0.1:freePort():
/// an HTTP/1.1 server that answers with a JSON description of each request and misbehaves on
/// request (path or `x-backend-mode` header: see the script's docstring). Ready when
/// constructed; killed when destroyed.
class HttpBackend {
 public:
  struct Options {
    /// Both set: port() speaks TLS, and a plaintext listener on plainPort() shares its state.
    std::string tls_cert;
    std::string tls_key;
    /// The backend closes a keepalive connection idle this long (0: never).
    milliseconds idle_timeout{0};
    bool verbose = false;  ///< log connections and requests to its output
    milliseconds ready_timeout{15000};
  };

  HttpBackend();
  explicit HttpBackend(Options options);
  ~HttpBackend();  ///< prints the backend's output when the test has failed
  HttpBackend(const HttpBackend&) = delete;
  HttpBackend& operator=(const HttpBackend&) = delete;

  uint16_t port() const { return port_; }
  /// The plaintext port: port() without TLS.
  uint16_t plainPort() const { return plain_port_; }
  bool tls() const { return tls_; }
  /// "http://127.0.0.1:PORT" + target (https:// with TLS; the IP is in TestCa's certificate).
  std::string url(const std::string& target = "/") const;
  /// GET /__stats on plainPort(). Throws when it does not answer.
  BackendStats stats();
  /// Polls stats() until `pred` holds or `deadline` passes; returns the last value.
  BackendStats waitStats(const std::function<bool(const BackendStats&)>& pred,
                         milliseconds deadline = milliseconds(5000));
  /// GET /__conns: one object per counted connection (conn_id, peer_port, port, requests, open,
  /// closed_by).
  boost::json::array conns();
  Process& process() { return *proc_; }
  std::string output() const { return proc_->output(); }
  /// Path of http_backend.py.
  static std::string scriptPath();

 private:
  uint16_t port_ = 0;
  uint16_t plain_port_ = 0;
  bool tls_ = false;
  std::unique_ptr<Process> proc_;
};

/// One line of an Nginx access log.
struct NginxLogLine {
  long connection = 0;           ///< $connection: serial number of the client connection
  long connection_requests = 0;  ///< $connection_requests: requests on it so far
  int status = 0;
  std::string method;
  std::string uri;     ///< $request_uri
  std::string scheme;  ///< http / https
  std::string host;
  long remote_port = 0;
  long bytes_sent = 0;
  std::string x_request_id;  ///< the request's X-Request-Id header
  std::string traceparent;   ///< the request's traceparent header
  std::string raw;           ///< the JSON line
};

/// nginx on 127.0.0.1 with a config written into its own temp dir (pid, logs, temp paths all
/// inside; `daemon off; master_process off;`), ready when constructed. It serves:
///   location /                 200, text/plain, Options::body
///   location = /echo-headers   200, text/plain: "name: value" lines for the method, URI,
///                              version, scheme, $connection, $connection_requests and a fixed
///                              set of request headers (host, user-agent, connection, x-request-id,
///                              traceparent, tracestate, x-b3-*, x-forwarded-*, forwarded, via,
///                              x-real-ip, x-test, content-length, transfer-encoding, te, upgrade)
///   location /static/          files in dir()/static/ ("10k": 10240 bytes)
///   location /proxy/           with Options::upstream_port: proxy_pass to 127.0.0.1:PORT/ over
///                              HTTP/1.1 with an upstream keepalive pool
/// and logs each request (except the harness's readiness probe) as a JSON line (NginxLogLine).
class Nginx {
 public:
  struct Options {
    std::string body = "hello from nginx\n";
    std::string keepalive_timeout = "75s";  ///< nginx syntax
    int keepalive_requests = 1000;
    /// Both set: a TLS listener on tlsPort() too (same locations).
    std::string tls_cert;
    std::string tls_key;
    bool tls_http2 = false;      ///< offer h2 (ALPN) on the TLS listener
    uint16_t upstream_port = 0;  ///< nonzero: location /proxy/ (see above)
    std::string extra_server;    ///< more directives inside the server block
    std::string extra_http;      ///< more directives inside the http block
    milliseconds ready_timeout{10000};
  };

  Nginx();
  explicit Nginx(Options options);
  ~Nginx();  ///< prints the error log when the test has failed
  Nginx(const Nginx&) = delete;
  Nginx& operator=(const Nginx&) = delete;

  uint16_t port() const { return port_; }
  uint16_t tlsPort() const { return tls_port_; }  ///< 0 without TLS
  const std::string& dir() const { return dir_; }
  const std::string& configText() const { return config_; }
  std::string accessLogPath() const { return dir_ + "/access.log"; }
  std::string errorLog() const;
  /// The access log so far, one entry per complete line.
  std::vector<NginxLogLine> accessLog() const;
  /// Polls until the access log has at least `n` lines; returns what it has then.
  std::vector<NginxLogLine> waitAccessLog(std::size_t n,
                                          milliseconds deadline = milliseconds(5000)) const;
  /// Distinct client connections ($connection) in the access log.
  std::size_t connectionsLogged() const;
  Process& process() { return *proc_; }

 private:
  std::string dir_;
  std::string config_;
  uint16_t port_ = 0;
  uint16_t tls_port_ = 0;
  std::unique_ptr<Process> proc_;
};

}  // namespace pilotfish::it
