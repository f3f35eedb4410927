#include "discovery/etcd_keyspace.h"

#include "pilotfish/discovery/nerve.h"

namespace pilotfish::discovery::etcd {

std::string rangeEndOf(std::string_view key) {
  std::string end(key);
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last < 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

KeyRange prefixRange(std::string_view prefix) {
  KeyRange r;
  r.key = std::string(prefix);
  if (r.key.empty() || r.key.back() != '/') r.key += '/';
  r.range_end = rangeEndOf(r.key);
  return r;
}

bool InstanceSet::put(std::string_view key, std::string_view value) {
  if (key.size() <= key_prefix_.size() || key.substr(0, key_prefix_.size()) != key_prefix_) {
    return false;
  }
  Entry e;
  Instance inst;
  std::string why;
  std::string id(key.substr(key_prefix_.size()));
  if (parseNerveInstance(value, inst, &why)) {
    inst.id = id;
    e.instance = std::move(inst);
  } else {
    e.why = id + ": " + why;
  }
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    entries_.emplace(std::string(key), std::move(e));
    return true;
  }
  if (it->second == e) return false;
  it->second = std::move(e);
  return true;
}

bool InstanceSet::erase(std::string_view key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return false;
  entries_.erase(it);
  return true;
}

Answer InstanceSet::answer() const {
  Answer a;
  a.instances.reserve(entries_.size());
  for (const auto& [key, e] : entries_) {
    if (e.instance) {
      a.instances.push_back(*e.instance);
    } else {
      if (a.skipped++ == 0) a.skip_example = e.why;
    }
  }
  return a;
}

}  // namespace pilotfish::discovery::etcd
