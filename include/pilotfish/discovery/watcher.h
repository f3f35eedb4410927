#pragma once
// The contract between a store watcher (ZooKeeper, Consul, etcd, DNS, file) and the discovery
// cache (discovery/cache.h). See docs/discovery.md.
//
// Threading: everything here runs on the control thread. A watcher whose client library calls
// back on its own thread (ZooKeeper C client, gRPC, ...) only posts to the control io_context from
// that thread, never blocks there, and keeps every object a pending callback can touch alive until
// that callback has run (stop() must make late callbacks harmless, e.g. through a shared "alive"
// flag or shared_ptr ownership).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "pilotfish/cluster/cluster.h"
#include "pilotfish/config/config.h"

namespace pilotfish::discovery {

/// One instance as a store reported it, already checked to be usable.
struct Instance {
  std::string id;    ///< znode name, Consul Service.ID, etcd key, "host:port" for DNS/file
  std::string host;  ///< IP literal (v4 or v6, no brackets)
  uint16_t port = 0;
  uint32_t weight = 1;  ///< 0-65535; 0 = no new traffic
  std::string zone;
  cluster::Labels labels;  ///< tags, Meta, nerve labels
  cluster::Health health = cluster::Health::kHealthy;
  int64_t registered_at_ms = 0;  ///< Unix ms when registered (znode ctime); 0 = unknown

  bool operator==(const Instance&) const = default;
};

/// A complete, valid answer from a store: the whole current set for one watch.
struct Answer {
  std::vector<Instance> instances;
  uint64_t skipped = 0;      ///< instances in the answer that could not be used
  std::string skip_example;  ///< why one of them was skipped (for the log), when skipped > 0
};

/// Where a watcher reports. Implemented by the cache; every call on the control thread.
class WatchSink {
 public:
  virtual ~WatchSink() = default;
  /// A complete answer (may be empty: the cache decides what an empty answer means).
  virtual void onAnswer(Answer answer) = 0;
  /// An answer that could not be used at all (unparsable, wrong shape): the last good set stays.
  virtual void onRejected(std::string_view why) = 0;
  /// The store could not be reached or the watch broke; the watcher retries with backoff.
  virtual void onError(std::string_view why) = 0;
  /// Connected (a watch is established and answering) or not.
  virtual void onConnected(bool connected) = 0;
};

/// One watch of one service in one store. Created stopped.
class Watcher {
 public:
  virtual ~Watcher() = default;
  /// Begins watching; answers arrive through the sink. Called once.
  virtual void start() = 0;
  /// Stops; after it returns the sink is never called again. Safe with callbacks in flight.
  virtual void stop() = 0;
};

/// A configured discovery source (`discovery.<name>`): the connection or session to a store,
/// shared by every watch that uses it.
class Source {
 public:
  virtual ~Source() = default;
  /// A watcher for `what` (a cluster's `zookeeper:`/`consul:`/`etcd:`/`dns:` block) that reports
  /// to `sink`, which outlives it.
  virtual std::unique_ptr<Watcher> watch(const config::ClusterDiscoveryConfig& what,
                                         WatchSink& sink) = 0;
  /// Closes the session/connections; called after every watcher of this source stopped.
  virtual void stop() = 0;
};

/// Backoff with full jitter for reconnecting watchers: 0.5 s doubling up to 30 s by default.
class Backoff {
 public:
  explicit Backoff(std::chrono::milliseconds base = std::chrono::milliseconds(500),
                   std::chrono::milliseconds cap = std::chrono::milliseconds(30000))
      : base_(base), cap_(cap) {}
  /// The next delay: random in [current/2, current], then current doubles up to the cap.
  std::chrono::milliseconds next();
  void reset() { attempt_ = 0; }

 private:
  std::chrono::milliseconds base_;
  std::chrono::milliseconds cap_;
  unsigned attempt_ = 0;
};

/// Factories, one per store type (src/discovery/<type>_watcher.cc).
std::unique_ptr<Source> makeZookeeperSource(boost::asio::io_context& io,
                                            const config::DiscoverySourceConfig& cfg);
std::unique_ptr<Source> makeConsulSource(boost::asio::io_context& io,
                                         const config::DiscoverySourceConfig& cfg);
std::unique_ptr<Source> makeEtcdSource(boost::asio::io_context& io,
                                       const config::DiscoverySourceConfig& cfg);
std::unique_ptr<Source> makeDnsSource(boost::asio::io_context& io,
                                      const config::DiscoverySourceConfig& cfg);
/// `file:` needs no source.
std::unique_ptr<Watcher> makeFileWatcher(boost::asio::io_context& io,
                                         const config::ClusterDiscoveryConfig& what,
                                         WatchSink& sink);

}  // namespace pilotfish::discovery
