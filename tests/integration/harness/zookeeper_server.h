#pragma once
// A real ZooKeeper 3.8 server (Debian `zookeeper`, one foreground JVM) on a loopback port with
// its own data dir, and a small synchronous writer on the ZooKeeper C client that plays the
// registrar (nerve / go-nerve) in tests. See ../shared/contracts/test-servers.md.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "integration/harness/harness.h"

typedef struct _zhandle zhandle_t;

namespace pilotfish::it {

class ZooKeeperServer {
 public:
  struct Options {
    /// Small ticks make short sessions possible: the server grants 2x..20x tickTime.
    int tick_time_ms = 200;
    uint16_t port = 0;  ///< 0: freePort()
    milliseconds ready_timeout{30000};
  };

  ZooKeeperServer();
  explicit ZooKeeperServer(Options options);
  ~ZooKeeperServer();  ///< prints the server's output when the test has failed
  ZooKeeperServer(const ZooKeeperServer&) = delete;
  ZooKeeperServer& operator=(const ZooKeeperServer&) = delete;

  uint16_t port() const { return port_; }
  /// "127.0.0.1:PORT"
  std::string address() const;
  /// SIGKILL (a crash: no goodbye to the clients); the data dir is kept.
  void stop();
  /// Starts again on the same port and data dir; returns when it answers `ruok`.
  void start();
  bool running() const { return proc_ != nullptr; }
  std::string output() const;

 private:
  Options options_;
  std::string dir_;
  uint16_t port_ = 0;
  std::unique_ptr<Process> proc_;
  std::string last_output_;
};

/// A TCP relay 127.0.0.1:port() -> 127.0.0.1:upstream that can cut a client off from a server
/// that keeps running: pause() resets every relayed connection and refuses new ones until
/// resume(). Holding a ZooKeeper client away longer than its session timeout this way makes the
/// server expire the session while the client cannot tell (the way a network partition does).
class TcpRelay {
 public:
  explicit TcpRelay(uint16_t upstream);
  ~TcpRelay();
  TcpRelay(const TcpRelay&) = delete;
  TcpRelay& operator=(const TcpRelay&) = delete;

  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  void pause();
  void resume();

 private:
  void acceptLoop();
  void pump(int client, int server, uint64_t epoch);

  uint16_t upstream_;
  uint16_t port_ = 0;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<bool> paused_{false};
  std::atomic<uint64_t> epoch_{0};
  std::mutex mu_;
  std::vector<std::thread> threads_;  // guarded by mu_
  std::thread accept_thread_;
};

/// True when 127.0.0.1:port answers the four-letter word `ruok` with `imok`.
bool zookeeperOk(uint16_t port, milliseconds timeout = milliseconds(500));

/// A synchronous ZooKeeper session for writing test data. Ephemeral nodes live as long as the
/// session (this object, or until expireSession). Methods throw std::runtime_error on failure.
class ZkClient {
 public:
  /// Connects (waits up to 10 s for the session). `connect` is "host:port[,...][/chroot]".
  explicit ZkClient(const std::string& connect, milliseconds session_timeout = milliseconds(4000));
  ~ZkClient();
  ZkClient(const ZkClient&) = delete;
  ZkClient& operator=(const ZkClient&) = delete;

  /// zoo_add_auth("digest", "user:password"); later creates with `creator_only` are readable
  /// only by sessions with the same identity.
  void addDigestAuth(const std::string& user_password);
  /// Creates `path` and every missing parent as persistent empty nodes (mkdir -p).
  void mkdirs(const std::string& path, bool creator_only = false);
  /// Creates a persistent node (parents made as needed) with `data`.
  void createPersistent(const std::string& path, const std::string& data,
                        bool creator_only = false);
  /// Creates `<prefix><10-digit sequence>` as EPHEMERAL_SEQUENTIAL (parents made as needed).
  /// Returns the created path.
  std::string createEphemeralSequential(const std::string& prefix, const std::string& data,
                                        bool creator_only = false);
  void set(const std::string& path, const std::string& data);
  /// Deletes the node (no error when it is already gone).
  void remove(const std::string& path);
  /// Deletes the node and everything below it.
  void removeRecursive(const std::string& path);
  int64_t sessionId() const;

  /// Ends the session `session_id`/`password` (another client's) by attaching to it and closing
  /// it: that client's next contact with the server says ZOO_EXPIRED_SESSION_STATE. False when
  /// the attach did not take (the owner reclaimed the session first): try again.
  static bool expireSession(const std::string& connect, int64_t session_id,
                            const std::string& password);

  struct State;  ///< session state shared with the client's watcher thread

 private:
  ZkClient(const std::string& connect, milliseconds session_timeout, int64_t session_id,
           const std::string& password);
  void retrying(const char* what, const std::string& path, const std::function<int()>& op,
                std::initializer_list<int> ok);

  std::unique_ptr<State> state_;
  zhandle_t* zh_ = nullptr;
};

/// Nerve instance JSON, airbnb nerve style: {"host","port","name"} (+ "weight" when >= 0).
std::string airbnbNerveData(const std::string& host, uint16_t port, const std::string& name,
                            int weight = -1);
/// go-nerve style: {"available","host","port","name","weight"} (+ labels as a raw JSON object).
std::string goNerveData(const std::string& host, uint16_t port, const std::string& name,
                        bool available = true, int weight = 255,
                        const std::string& labels_json = "");

}  // namespace pilotfish::it
