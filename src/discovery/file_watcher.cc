// `file: {path}` discovery: a YAML (or JSON) list of endpoints in the form of a static cluster's
// `endpoints`, re-read whenever its directory changes (inotify), which covers editors writing in
// place, atomic replace by rename, and Kubernetes ConfigMap volumes (the `..data` symlink swap),
// with a slow re-read as a safety net for file systems without inotify.

#include <sys/inotify.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <cstring>
#include <memory>
#include <string_view>

#include "discovery/cache_file.h"
#include "pilotfish/discovery/watcher.h"
#include "pilotfish/net/address.h"
#include "pilotfish/net/close.h"

namespace pilotfish::discovery {

namespace asio = boost::asio;

namespace {

constexpr auto kDebounce = std::chrono::milliseconds(20);
constexpr auto kSafetyReread = std::chrono::seconds(10);
constexpr std::size_t kMaxFileBytes = 16u << 20;

std::string markText(const YAML::Mark& m) {
  return std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

// One entry: "ip:port" or {address, weight, zone}. False with `why` when unusable.
bool readEntry(const YAML::Node& n, Instance& in, std::string* why) {
  std::string address;
  if (n.IsScalar()) {
    address = n.Scalar();
  } else if (n.IsMap()) {
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string key = it->first.IsScalar() ? it->first.Scalar() : "";
      if (key != "address" && key != "weight" && key != "zone") {
        *why = "unknown key \"" + key + "\" at " + markText(it->first.Mark());
        return false;
      }
    }
    if (!n["address"] || !n["address"].IsScalar()) {
      *why = "no address at " + markText(n.Mark());
      return false;
    }
    address = n["address"].Scalar();
    if (auto w = n["weight"]) {
      const std::string& t = w.IsScalar() ? w.Scalar() : std::string();
      bool digits = !t.empty() && t.size() <= 5 &&
                    std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (!digits || std::stoul(t) > 65535) {
        *why = "weight is not an integer 0-65535 at " + markText(w.Mark());
        return false;
      }
      in.weight = static_cast<uint32_t>(std::stoul(t));
    }
    if (auto z = n["zone"]) {
      if (!z.IsScalar()) {
        *why = "zone is not a string at " + markText(z.Mark());
        return false;
      }
      in.zone = z.Scalar();
    }
  } else {
    *why = "expected \"ip:port\" or a map at " + markText(n.Mark());
    return false;
  }
  std::string problem;
  auto hp = net::parseHostPort(address, false, &problem);
  if (!hp) {
    *why = "invalid address \"" + address + "\" at " + markText(n.Mark()) + ": " + problem;
    return false;
  }
  in.host = hp->host;
  in.port = hp->port;
  in.id = hp->toString();
  return true;
}

class FileWatcher : public Watcher, public std::enable_shared_from_this<FileWatcher> {
 public:
  FileWatcher(asio::io_context& io, std::string path, WatchSink& sink)
      : io_(io),
        path_(std::move(path)),
        sink_(sink),
        inotify_(io),
        debounce_(io),
        retry_(io),
        safety_(io) {
    auto slash = path_.rfind('/');
    dir_ = slash == 0 ? "/" : path_.substr(0, slash);
    base_ = path_.substr(slash + 1);
  }

  void start() override {
    armWatch();
    reread();
    armSafety();
  }

  void stop() override {
    stopped_ = true;
    net::close(inotify_);
    debounce_.cancel();
    retry_.cancel();
    safety_.cancel();
  }

 private:
  void armWatch() {
    int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) {
      SPDLOG_WARN("file discovery {}: inotify unavailable ({}); re-reading every {}s", path_,
                  std::strerror(errno), kSafetyReread.count());
      return;
    }
    // The directory, not the file: a rename over the file or a symlink swap replaces the inode
    // a watch on the file would be holding.
    constexpr uint32_t kMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
                               IN_DELETE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF;
    if (::inotify_add_watch(fd, dir_.c_str(), kMask) < 0) {
      int err = errno;
      ::close(fd);
      sink_.onError("cannot watch directory " + dir_ + ": " + std::strerror(err));
      retryWatch();
      return;
    }
    net::close(inotify_);
    inotify_.assign(fd);
    readEvents();
  }

  void retryWatch() {
    retry_.expires_after(backoff_.next());
    retry_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->stopped_) return;
      self->armWatch();
      self->reread();
    });
  }

  void readEvents() {
    inotify_.async_read_some(
        asio::buffer(events_),
        [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
          if (self->stopped_ || ec == asio::error::operation_aborted) return;
          if (ec) {
            self->sink_.onError("inotify: " + ec.message());
            self->retryWatch();
            return;
          }
          bool dir_gone = false;
          bool relevant = false;
          for (std::size_t off = 0; off + sizeof(inotify_event) <= n;) {
            const auto* ev = reinterpret_cast<const inotify_event*>(self->events_.data() + off);
            if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_Q_OVERFLOW)) {
              dir_gone = true;
            }
            relevant = relevant || self->concerns(ev);
            off += sizeof(inotify_event) + ev->len;
          }
          if (relevant || dir_gone) self->scheduleReread();
          if (dir_gone) {
            net::close(self->inotify_);
            self->retryWatch();
            return;
          }
          self->readEvents();
        });
  }

  // An event about our file, or about a `..`-prefixed name (a ConfigMap's `..data` link or
  // version directory, through which our file may be a symlink). Other files in the directory
  // (e.g. other clusters' lists) do not make us re-read.
  bool concerns(const inotify_event* ev) const {
    if (ev->mask & IN_Q_OVERFLOW) return true;
    if (ev->len == 0) return true;  // about the directory itself
    std::string_view name(ev->name, ::strnlen(ev->name, ev->len));
    return name == base_ || name.starts_with("..");
  }

  // Several events arrive for one change (create, write, rename): read once after they settle.
  void scheduleReread() {
    if (pending_) return;
    pending_ = true;
    debounce_.expires_after(kDebounce);
    debounce_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      self->pending_ = false;
      if (ec || self->stopped_) return;
      self->reread();
    });
  }

  void armSafety() {
    safety_.expires_after(kSafetyReread);
    safety_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->stopped_) return;
      self->reread();
      self->armSafety();
    });
  }

  void reread() {
    std::string why;
    auto text = readSmallFile(path_, kMaxFileBytes, &why);
    if (!text) {
      if (connected_) sink_.onConnected(false);
      connected_ = false;
      sink_.onError("cannot read " + path_ + ": " + why);
      return;
    }
    if (last_text_ && *last_text_ == *text && connected_) return;  // unchanged
    YAML::Node root;
    try {
      root = YAML::Load(*text);
    } catch (const YAML::Exception& e) {
      sink_.onRejected(path_ + ":" + markText(e.mark) + ": " + e.msg);
      return;
    }
    if (!root.IsSequence() && !root.IsNull()) {
      sink_.onRejected(path_ +
                       ": expected a list of endpoints (\"ip:port\" or {address, weight, zone})");
      return;
    }
    Answer a;
    if (root.IsSequence()) {
      for (const auto& n : root) {
        Instance in;
        std::string problem;
        if (readEntry(n, in, &problem)) {
          a.instances.push_back(std::move(in));
        } else {
          ++a.skipped;
          if (a.skip_example.empty()) a.skip_example = path_ + ": " + problem;
        }
      }
    }
    last_text_ = std::move(*text);
    if (!connected_) sink_.onConnected(true);
    connected_ = true;
    backoff_.reset();
    sink_.onAnswer(std::move(a));
  }

  asio::io_context& io_;
  std::string path_;
  std::string dir_;
  std::string base_;
  WatchSink& sink_;
  asio::posix::stream_descriptor inotify_;
  asio::steady_timer debounce_;
  asio::steady_timer retry_;
  asio::steady_timer safety_;
  Backoff backoff_;
  alignas(inotify_event) std::array<char, 8192> events_{};
  std::optional<std::string> last_text_;
  bool pending_ = false;
  bool connected_ = false;
  bool stopped_ = false;
};

// The cache owns a unique_ptr<Watcher>; the FileWatcher itself is shared with its pending
// handlers, so this handle stops it when dropped.
class FileWatcherHandle : public Watcher {
 public:
  explicit FileWatcherHandle(std::shared_ptr<FileWatcher> w) : w_(std::move(w)) {}
  ~FileWatcherHandle() override { w_->stop(); }
  void start() override { w_->start(); }
  void stop() override { w_->stop(); }

 private:
  std::shared_ptr<FileWatcher> w_;
};

}  // namespace

std::unique_ptr<Watcher> makeFileWatcher(asio::io_context& io,
                                         const config::ClusterDiscoveryConfig& what,
                                         WatchSink& sink) {
  return std::make_unique<FileWatcherHandle>(std::make_shared<FileWatcher>(io, what.path, sink));
}

}  // namespace pilotfish::discovery
