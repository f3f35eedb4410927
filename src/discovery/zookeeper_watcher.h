#pragma once
// ZooKeeper source internals shared with its tests.

#include <cstdint>
#include <optional>
#include <string>

#include "pilotfish/config/config.h"
#include "pilotfish/discovery/watcher.h"

namespace pilotfish::discovery {

/// The C client's connection string: "host:port,host:port[/chroot]".
std::string zookeeperConnectString(const config::DiscoverySourceConfig& cfg);

/// The session a ZooKeeper source holds (for tests that end it from outside to cause expiry).
struct ZookeeperSessionId {
  int64_t id = 0;
  std::string password;  ///< the session password (16 bytes)
};

/// The current session of `source` (made by makeZookeeperSource), when it has a connected one.
/// Control thread only.
std::optional<ZookeeperSessionId> zookeeperSessionOf(Source& source);

}  // namespace pilotfish::discovery
