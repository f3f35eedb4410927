#pragma once
// The part of the etcd watcher that needs no server: which keys belong to a service and the set
// of instances a Range and the Watch events after it describe. Control thread only.

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "pilotfish/discovery/watcher.h"

namespace pilotfish::discovery::etcd {

/// [key, range_end) of every key below `prefix` as a directory: key is `prefix` + "/" (the '/' is
/// not doubled when `prefix` already ends with one), range_end is key with its last byte
/// incremented, so prefix `/services/users` never matches `/services/users-v2/...`.
struct KeyRange {
  std::string key;
  std::string range_end;
};
KeyRange prefixRange(std::string_view prefix);

/// etcd's "all keys that start with `key`" bound: `key` with its last byte below 0xff incremented
/// (trailing 0xff bytes dropped); "\0" (every key) when every byte is 0xff.
std::string rangeEndOf(std::string_view key);

/// The instances of one service, keyed by etcd key, as the Range and the Watch events after it
/// describe them. Values are nerve/go-nerve JSON; the instance id is the key without the range's
/// key (so `/services/users/i-1` is `i-1`). etcd keeps no time, so registered_at_ms stays 0.
class InstanceSet {
 public:
  explicit InstanceSet(std::string key_prefix) : key_prefix_(std::move(key_prefix)) {}

  void clear() { entries_.clear(); }
  /// A key was written (Range row or PUT event). Returns true when the set changed (a key outside
  /// the prefix is ignored).
  bool put(std::string_view key, std::string_view value);
  /// A key was deleted. Returns true when it was known.
  bool erase(std::string_view key);
  /// The whole set: usable instances (in key order), and how many were skipped and why.
  Answer answer() const;
  std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::optional<Instance> instance;  ///< nullopt: skipped
    std::string why;                   ///< why it was skipped
    bool operator==(const Entry&) const = default;
  };
  std::string key_prefix_;
  std::map<std::string, Entry, std::less<>> entries_;
};

}  // namespace pilotfish::discovery::etcd
