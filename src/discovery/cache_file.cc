#include "discovery/cache_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "pilotfish/core/json.h"
#include "pilotfish/core/json_parse.h"

namespace pilotfish::discovery {

namespace {
constexpr int64_t kFormat = 1;

const char* healthText(cluster::Health h) {
  return cluster::healthName(h);
}

bool setError(std::string* why, std::string text) {
  if (why) *why = std::move(text);
  return false;
}
}  // namespace

std::string serializeCacheFile(const CacheFile& f) {
  std::string out;
  core::JsonWriter w(out);
  w.beginObject();
  w.field("format", kFormat);
  w.field("cluster", f.cluster);
  w.field("watch", f.watch_key);
  w.field("written_at_ms", f.written_at_ms);
  w.key("endpoints");
  w.beginArray();
  for (const auto& in : f.instances) {
    w.beginObject();
    w.field("id", in.id);
    w.field("host", in.host);
    w.field("port", static_cast<uint64_t>(in.port));
    w.field("weight", static_cast<uint64_t>(in.weight));
    w.field("zone", in.zone);
    w.field("health", healthText(in.health));
    w.field("registered_at_ms", in.registered_at_ms);
    w.key("labels");
    w.beginArray();  // pairs: a tag is a label with an empty value, and keys may repeat
    for (const auto& [k, v] : in.labels) {
      w.beginArray();
      w.value(k);
      w.value(v);
      w.endArray();
    }
    w.endArray();
    w.endObject();
  }
  w.endArray();
  w.endObject();
  out += '\n';
  return out;
}

std::optional<CacheFile> parseCacheFile(std::string_view text, std::string* why) {
  std::string error;
  auto doc = core::parseJson(text, &error);
  if (!doc) {
    setError(why, "not JSON: " + error);
    return std::nullopt;
  }
  auto bad = [why](std::string what) -> std::optional<CacheFile> {
    setError(why, std::move(what));
    return std::nullopt;
  };
  const auto* format = doc->find("format");
  if (!format || format->asInt() != kFormat) return bad("unknown format version");
  CacheFile f;
  const auto* cluster = doc->findString("cluster");
  const auto* watch = doc->findString("watch");
  const auto* written = doc->find("written_at_ms");
  const auto* eps = doc->find("endpoints");
  if (!cluster || !watch || !written || !written->asInt() || !eps || !eps->isArray()) {
    return bad("missing cluster, watch, written_at_ms or endpoints");
  }
  f.cluster = *cluster;
  f.watch_key = *watch;
  f.written_at_ms = *written->asInt();
  for (const auto& e : eps->items()) {
    Instance in;
    const auto* id = e.findString("id");
    const auto* host = e.findString("host");
    const auto* port = e.find("port");
    const auto* weight = e.find("weight");
    const auto* zone = e.findString("zone");
    const auto* health = e.findString("health");
    const auto* reg = e.find("registered_at_ms");
    const auto* labels = e.find("labels");
    if (!id || !host || !port || !port->asInt() || *port->asInt() < 1 || *port->asInt() > 65535 ||
        !weight || !weight->asInt() || *weight->asInt() < 0 || *weight->asInt() > 65535 || !zone ||
        !health || !reg || !reg->asInt() || !labels || !labels->isArray()) {
      return bad("an endpoint lacks a field or has a bad value");
    }
    in.id = *id;
    in.host = *host;
    in.port = static_cast<uint16_t>(*port->asInt());
    in.weight = static_cast<uint32_t>(*weight->asInt());
    in.zone = *zone;
    in.health = *health == "healthy"     ? cluster::Health::kHealthy
                : *health == "unhealthy" ? cluster::Health::kUnhealthy
                                         : cluster::Health::kUnknown;
    in.registered_at_ms = *reg->asInt();
    for (const auto& pair : labels->items()) {
      if (!pair.isArray() || pair.items().size() != 2 || !pair.items()[0].isString() ||
          !pair.items()[1].isString()) {
        return bad("a label is not a [key, value] pair of strings");
      }
      in.labels.emplace_back(pair.items()[0].asString(), pair.items()[1].asString());
    }
    f.instances.push_back(std::move(in));
  }
  return f;
}

bool writeFileAtomically(const std::string& dir, const std::string& name, std::string_view data,
                         std::string* why) {
  const std::string target = dir + "/" + name;
  const std::string tmp = dir + "/." + name + ".tmp";
  auto sysError = [&](const char* what, const std::string& path) {
    return setError(why, std::string(what) + " " + path + ": " + std::strerror(errno));
  };
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return sysError("cannot create", tmp);
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      sysError("cannot write", tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    sysError("cannot fsync", tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
    return false;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), target.c_str()) != 0) {
    sysError("cannot rename over", target);
    ::unlink(tmp.c_str());
    return false;
  }
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return sysError("cannot open directory", dir);
  bool ok = ::fsync(dfd) == 0;
  if (!ok) sysError("cannot fsync directory", dir);
  ::close(dfd);
  return ok;
}

std::optional<std::string> readSmallFile(const std::string& path, std::size_t max_bytes,
                                         std::string* why) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    setError(why, std::string(std::strerror(errno)));
    return std::nullopt;
  }
  std::string out;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      setError(why, std::string(std::strerror(errno)));
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > max_bytes) {
      setError(why, "larger than " + std::to_string(max_bytes) + " bytes");
      ::close(fd);
      return std::nullopt;
    }
  }
  ::close(fd);
  return out;
}

}  // namespace pilotfish::discovery
