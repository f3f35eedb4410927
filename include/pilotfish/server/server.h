#pragma once
// Wiring and lifecycle of a running pilotfish: workers, listeners, the admin API, signals and
// graceful drain. Constructed and run on the main thread, which becomes the control thread.

#include <memory>

#include "pilotfish/config/config.h"

namespace pilotfish::server {

class Server {
 public:
  explicit Server(config::ConfigPtr config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Binds everything, serves until SIGTERM/SIGINT and the drain complete. Returns the process
  /// exit code: 0 after a graceful drain, 1 when start-up fails.
  int run();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

/// Raises RLIMIT_NOFILE's soft limit to its hard limit. Returns the new soft limit.
unsigned long raiseFileLimit();

}  // namespace pilotfish::server
