#include "integration/harness/zookeeper_server.h"

// The synchronous calls are declared only for the multi-threaded client (zookeeper_mt).
#ifndef THREADED
#define THREADED
#endif
#include <zookeeper/zookeeper.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

namespace pilotfish::it {

// ---------------------------------------------------------------------------------------------
// Server

bool zookeeperOk(uint16_t port, milliseconds timeout) {
  TcpClient c;
  if (c.connect(port, timeout) != 0) return false;
  if (!c.sendAll("ruok", timeout)) return false;
  std::string got;
  c.waitClosed(timeout, &got);
  return got == "imok";
}

ZooKeeperServer::ZooKeeperServer() : ZooKeeperServer(Options{}) {}

ZooKeeperServer::ZooKeeperServer(Options options) : options_(options) {
  dir_ = makeTempDir("zookeeper");
  port_ = options_.port != 0 ? options_.port : freePort();
  std::ofstream cfg(dir_ + "/zoo.cfg");
  cfg << "tickTime=" << options_.tick_time_ms << "\n"
      << "dataDir=" << dir_ << "/data\n"
      << "clientPort=" << port_ << "\n"
      << "clientPortAddress=127.0.0.1\n"
      << "maxClientCnxns=0\n"
      << "admin.enableServer=false\n"
      << "4lw.commands.whitelist=ruok,srvr,stat\n";
  cfg.close();
  if (!cfg) throw std::runtime_error("cannot write " + dir_ + "/zoo.cfg");
  start();
}

ZooKeeperServer::~ZooKeeperServer() {
  if (::testing::Test::HasFailure()) {
    std::cerr << "---- zookeeper on port " << port_ << " ----\n" << output() << "----\n";
  }
}

std::string ZooKeeperServer::address() const {
  return "127.0.0.1:" + std::to_string(port_);
}

std::string ZooKeeperServer::output() const {
  return last_output_ + (proc_ ? proc_->output() : std::string());
}

void ZooKeeperServer::start() {
  if (proc_) return;
  proc_ = std::make_unique<Process>(std::vector<std::string>{
      "java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp",
      "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar:/usr/share/java/zookeeper-jute.jar:"
      "/usr/share/java/slf4j-api.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/"
      "log4j-1.2.jar",
      "-Dzookeeper.root.logger=WARN,CONSOLE", "org.apache.zookeeper.server.quorum.QuorumPeerMain",
      dir_ + "/zoo.cfg"});
  bool up =
      waitFor([&] { return !proc_->running() || zookeeperOk(port_); }, options_.ready_timeout) &&
      proc_->running();
  if (!up) {
    std::string out = proc_->output();
    proc_.reset();
    throw std::runtime_error("zookeeper on port " + std::to_string(port_) +
                             " did not answer ruok; output:\n" + out);
  }
}

void ZooKeeperServer::stop() {
  if (!proc_) return;
  proc_->kill();
  last_output_ += proc_->output();
  proc_.reset();
}

// ---------------------------------------------------------------------------------------------
// Relay

TcpRelay::TcpRelay(uint16_t upstream) : upstream_(upstream) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  port_ = freePort();
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port_);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      ::listen(listen_fd_, 64) != 0) {
    ::close(listen_fd_);
    throw std::runtime_error("relay: cannot listen on port " + std::to_string(port_));
  }
  accept_thread_ = std::thread([this] { acceptLoop(); });
}

TcpRelay::~TcpRelay() {
  stop_ = true;
  ++epoch_;
  accept_thread_.join();
  std::lock_guard lock(mu_);
  for (auto& t : threads_) t.join();
  ::close(listen_fd_);
}

void TcpRelay::pause() {
  paused_ = true;
  ++epoch_;
}

void TcpRelay::resume() {
  paused_ = false;
}

void TcpRelay::acceptLoop() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) continue;
    int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    if (paused_) {
      ::close(client);
      continue;
    }
    int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(upstream_);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(server, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      ::close(server);
      ::close(client);
      continue;
    }
    std::lock_guard lock(mu_);
    threads_.emplace_back([this, client, server, e = epoch_.load()] { pump(client, server, e); });
  }
}

void TcpRelay::pump(int client, int server, uint64_t epoch) {
  char buf[16384];
  pollfd p[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
  while (epoch_ == epoch) {
    if (::poll(p, 2, 20) <= 0) continue;
    bool done = false;
    for (int i = 0; i < 2 && !done; ++i) {
      if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(p[i].fd, buf, sizeof(buf));
      done = n <= 0 || ::send(p[1 - i].fd, buf, static_cast<std::size_t>(n), MSG_NOSIGNAL) != n;
    }
    if (done) break;
  }
  // A reset, as a dropped network path looks once the client notices.
  linger l{1, 0};
  ::setsockopt(client, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  ::close(client);
  ::close(server);
}

// ---------------------------------------------------------------------------------------------
// Writer

struct ZkClient::State {
  std::mutex mu;
  std::condition_variable cv;
  int state = 0;
};

namespace {

void clientWatcher(zhandle_t*, int type, int state, const char*, void* ctx) {
  if (type != ZOO_SESSION_EVENT) return;
  auto* st = static_cast<ZkClient::State*>(ctx);
  std::lock_guard lock(st->mu);
  st->state = state;
  st->cv.notify_all();
}

std::string parentOf(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? std::string() : path.substr(0, slash);
}

}  // namespace

ZkClient::ZkClient(const std::string& connect, milliseconds session_timeout)
    : ZkClient(connect, session_timeout, 0, std::string()) {}

ZkClient::ZkClient(const std::string& connect, milliseconds session_timeout, int64_t session_id,
                   const std::string& password)
    : state_(std::make_unique<State>()) {
  zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
  clientid_t id{};
  if (session_id != 0) {
    id.client_id = session_id;
    std::memcpy(id.passwd, password.data(), std::min(password.size(), sizeof(id.passwd)));
  }
  // The client's own log (every reconnect attempt) would only clutter the test output.
  zh_ = zookeeper_init2(connect.c_str(), clientWatcher, static_cast<int>(session_timeout.count()),
                        session_id != 0 ? &id : nullptr, state_.get(), 0, [](const char*) {});
  if (!zh_) {
    throw std::runtime_error("zookeeper_init(" + connect + ") failed: " + std::strerror(errno));
  }
  std::unique_lock lock(state_->mu);
  bool ok = state_->cv.wait_for(lock, std::chrono::seconds(10), [&] {
    return state_->state == ZOO_CONNECTED_STATE || state_->state == ZOO_EXPIRED_SESSION_STATE;
  });
  if (!ok || state_->state != ZOO_CONNECTED_STATE) {
    lock.unlock();
    zookeeper_close(zh_);
    zh_ = nullptr;
    throw std::runtime_error("ZooKeeper writer could not connect to " + connect);
  }
}

ZkClient::~ZkClient() {
  // state_ outlives the handle: zookeeper_close joins the thread that calls the watcher.
  if (zh_) zookeeper_close(zh_);
}

int64_t ZkClient::sessionId() const {
  return zoo_client_id(zh_)->client_id;
}

void ZkClient::retrying(const char* what, const std::string& path, const std::function<int()>& op,
                        std::initializer_list<int> ok) {
  // Connection loss (the server restarting) is retried; the operations retried are idempotent.
  auto deadline = Clock::now() + std::chrono::seconds(10);
  int rc = ZOK;
  for (;;) {
    rc = op();
    for (int good : ok) {
      if (rc == good) return;
    }
    if (rc != ZCONNECTIONLOSS && rc != ZOPERATIONTIMEOUT) break;
    if (Clock::now() > deadline) break;
    std::this_thread::sleep_for(milliseconds(50));
  }
  throw std::runtime_error(std::string("ZooKeeper ") + what + " " + path + ": " + zerror(rc));
}

void ZkClient::addDigestAuth(const std::string& user_password) {
  int rc = zoo_add_auth(zh_, "digest", user_password.data(), static_cast<int>(user_password.size()),
                        nullptr, nullptr);
  if (rc != ZOK) throw std::runtime_error(std::string("zoo_add_auth: ") + zerror(rc));
}

void ZkClient::mkdirs(const std::string& path, bool creator_only) {
  if (path.empty() || path == "/") return;
  std::string parent = parentOf(path);
  if (!parent.empty()) mkdirs(parent, creator_only);
  auto* acl = creator_only ? &ZOO_CREATOR_ALL_ACL : &ZOO_OPEN_ACL_UNSAFE;
  retrying(
      "create", path,
      [&] { return zoo_create(zh_, path.c_str(), nullptr, -1, acl, ZOO_PERSISTENT, nullptr, 0); },
      {ZOK, ZNODEEXISTS});
}

void ZkClient::createPersistent(const std::string& path, const std::string& data,
                                bool creator_only) {
  mkdirs(parentOf(path), creator_only);
  auto* acl = creator_only ? &ZOO_CREATOR_ALL_ACL : &ZOO_OPEN_ACL_UNSAFE;
  retrying("create", path,
           [&] {
             return zoo_create(zh_, path.c_str(), data.data(), static_cast<int>(data.size()), acl,
                               ZOO_PERSISTENT, nullptr, 0);
           },
           {ZOK});
}

std::string ZkClient::createEphemeralSequential(const std::string& prefix, const std::string& data,
                                                bool creator_only) {
  mkdirs(parentOf(prefix), creator_only);
  auto* acl = creator_only ? &ZOO_CREATOR_ALL_ACL : &ZOO_OPEN_ACL_UNSAFE;
  std::vector<char> created(prefix.size() + 64);
  // Not retried: a sequential create that was applied before the connection dropped would be
  // made twice.
  int rc = zoo_create(zh_, prefix.c_str(), data.data(), static_cast<int>(data.size()), acl,
                      ZOO_EPHEMERAL_SEQUENTIAL, created.data(), static_cast<int>(created.size()));
  if (rc != ZOK) throw std::runtime_error("ZooKeeper create " + prefix + ": " + zerror(rc));
  return created.data();
}

void ZkClient::set(const std::string& path, const std::string& data) {
  retrying(
      "set", path,
      [&] { return zoo_set(zh_, path.c_str(), data.data(), static_cast<int>(data.size()), -1); },
      {ZOK});
}

void ZkClient::remove(const std::string& path) {
  retrying("delete", path, [&] { return zoo_delete(zh_, path.c_str(), -1); }, {ZOK, ZNONODE});
}

void ZkClient::removeRecursive(const std::string& path) {
  String_vector children{};
  int rc = zoo_get_children(zh_, path.c_str(), 0, &children);
  if (rc == ZNONODE) return;
  if (rc != ZOK) throw std::runtime_error("ZooKeeper get_children " + path + ": " + zerror(rc));
  for (int i = 0; i < children.count; ++i) {
    removeRecursive(path + (path == "/" ? "" : "/") + children.data[i]);
  }
  deallocate_String_vector(&children);
  remove(path);
}

bool ZkClient::expireSession(const std::string& connect, int64_t session_id,
                             const std::string& password) {
  // Attaching to the session moves it to this connection; closing it ends it for everyone.
  try {
    ZkClient other(connect, milliseconds(4000), session_id, password);
    return true;
  } catch (const std::runtime_error&) {
    return false;  // the owner's client took the session back before this attach completed
  }
}

// ---------------------------------------------------------------------------------------------
// Nerve data

std::string airbnbNerveData(const std::string& host, uint16_t port, const std::string& name,
                            int weight) {
  std::string s = "{\"host\": \"" + host + "\", \"port\": " + std::to_string(port) +
                  ", \"name\": \"" + name + "\"";
  if (weight >= 0) s += ", \"weight\": " + std::to_string(weight);
  return s + "}";
}

std::string goNerveData(const std::string& host, uint16_t port, const std::string& name,
                        bool available, int weight, const std::string& labels_json) {
  std::string s = std::string("{\"available\": ") + (available ? "true" : "false") +
                  ", \"host\": \"" + host + "\", \"port\": " + std::to_string(port) +
                  ", \"name\": \"" + name + "\", \"weight\": " + std::to_string(weight);
  if (!available) s += ", \"unavailable_reason\": \"check failed\"";
  if (!labels_json.empty()) s += ", \"labels\": " + labels_json;
  return s + "}";
}

}  // namespace pilotfish::it
