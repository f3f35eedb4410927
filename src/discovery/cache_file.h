#pragma once
// Private to src/discovery: the on-disk form of a cluster's last known good endpoint set
// (cache_dir), and writing it atomically. See docs/discovery.md, "On-disk cache".

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pilotfish/discovery/watcher.h"

namespace pilotfish::discovery {

struct CacheFile {
  std::string cluster;
  std::string watch_key;      ///< the discovery definition it belongs to (checked on load)
  int64_t written_at_ms = 0;  ///< Unix ms
  std::vector<Instance> instances;
};

/// JSON text of a cache file.
std::string serializeCacheFile(const CacheFile& f);
/// Parses a cache file; nullopt with `*why` when it is not one (or of another format version).
std::optional<CacheFile> parseCacheFile(std::string_view text, std::string* why);

/// Writes `data` to `dir/name` so that a reader sees the old or the new content, never a mix,
/// and the new content survives a crash once this returns true: write a temporary file, fsync
/// it, rename it over the target, fsync the directory.
bool writeFileAtomically(const std::string& dir, const std::string& name, std::string_view data,
                         std::string* why);

/// Reads a whole file (up to `max_bytes`); nullopt with `*why` on error.
std::optional<std::string> readSmallFile(const std::string& path, std::size_t max_bytes,
                                         std::string* why);

}  // namespace pilotfish::discovery
