#pragma once
// The discovery cache: one per process, on the control thread. Watchers (watcher.h) feed it
// answers; it validates them, keeps each cluster's last known good endpoint set (in memory and,
// with `cache_dir`, on disk), tracks staleness, and hands every changed set to `publish`, which
// posts the immutable snapshot to the workers. See docs/discovery.md.
//
// Threading: every member runs on the control thread (the io_context given to the constructor).

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "pilotfish/cluster/cluster.h"
#include "pilotfish/config/config.h"

namespace pilotfish::discovery {

/// What /clusters and /metrics show about one discovered cluster.
struct ClusterStatus {
  bool discovered = false;   ///< has a discovery block (else: static; the rest is unset)
  std::string store;         ///< zookeeper, consul, etcd, dns, file
  bool initialized = false;  ///< has a set (live, from the disk cache, or initial fetch timed out)
  bool connected = false;    ///< the store is answering
  bool from_cache = false;   ///< the set was loaded from cache_dir and not yet confirmed live
  bool expired = false;      ///< the set was dropped: unconfirmed for longer than max_stale
  bool empty_ignored = false;  ///< the last answer was empty and was not applied (allow_empty)
  double age_seconds = 0;      ///< since the store last confirmed the set (0 while connected)
  std::string last_error;      ///< latest error or rejection, "" when none since the last answer
  uint64_t updates = 0;        ///< answers that changed the set
  uint64_t answers = 0;        ///< valid answers received
  uint64_t skipped = 0;        ///< unusable instances skipped
  uint64_t rejected = 0;       ///< answers rejected whole
  uint64_t empty = 0;          ///< empty answers not applied
  uint64_t errors = 0;         ///< store/watch errors
  uint64_t cache_writes = 0;
  uint64_t cache_write_failures = 0;
};

class DiscoveryCache {
 public:
  struct Hooks {
    /// A new set for cluster `index` (Config::clusters order). Called on the control thread.
    std::function<void(std::size_t index, cluster::ClusterSnapshotPtr snapshot)> publish;
    /// Cluster `index` got its first set, or its initial_fetch_timeout passed.
    std::function<void(std::size_t index)> initialized;
  };

  /// `initial` holds every cluster's starting snapshot (static ones final; discovered ones
  /// empty until the cache or the store fills them).
  DiscoveryCache(boost::asio::io_context& io, config::ConfigPtr cfg, cluster::ClusterSetPtr initial,
                 Hooks hooks);
  ~DiscoveryCache();
  DiscoveryCache(const DiscoveryCache&) = delete;
  DiscoveryCache& operator=(const DiscoveryCache&) = delete;

  /// Loads cache_dir, creates the sources and watchers and starts them; arms the initial fetch
  /// timeouts. Logs (never fails) when a store is down: start-up goes on with cached/empty sets.
  void start();
  /// Stops every watcher and source (no publish afterwards).
  void stop();

  /// The current set of every cluster.
  cluster::ClusterSetPtr clusters() const;
  bool initialized(std::size_t index) const;
  ClusterStatus status(std::size_t index) const;

  /// Appends the pilotfish_discovery_* metrics (Prometheus text).
  void renderMetrics(std::string& out) const;

  /// Name of the on-disk cache file of a cluster (without the directory): "<cluster>-<hash>.json",
  /// where the hash is over the discovery definition (watchKey).
  static std::string cacheFileName(const std::string& cluster, const std::string& watch_key);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pilotfish::discovery
