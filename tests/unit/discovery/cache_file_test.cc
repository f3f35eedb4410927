#include "discovery/cache_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>

#include "pilotfish/discovery/cache.h"
#include "pilotfish/discovery/watcher.h"

namespace pilotfish::discovery {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

Instance instance(std::string id, std::string host, uint16_t port, uint32_t weight,
                  cluster::Health health) {
  Instance in;
  in.id = std::move(id);
  in.host = std::move(host);
  in.port = port;
  in.weight = weight;
  in.health = health;
  return in;
}

CacheFile sample() {
  CacheFile f;
  f.cluster = "users";
  f.watch_key = "zookeeper|zk-main|/services/users";
  f.written_at_ms = 1764100000123;
  Instance a = instance("i-0abc_0000000042", "10.0.0.5", 8080, 20, cluster::Health::kHealthy);
  a.zone = "us-east-1a";
  // A tag is a label with an empty value, and keys may repeat (Consul tags, Meta).
  a.labels = {{"az", "us-east-1a"}, {"primary", ""}, {"tag", "v1"}, {"tag", "v2"}};
  a.registered_at_ms = 1764000000000;
  Instance b = instance("[2001:db8::7]:3306", "2001:db8::7", 65535, 0, cluster::Health::kUnhealthy);
  // Characters the writer must escape.
  Instance c = instance("node \"3\" \\ \xc3\xa9\xf0\x9f\x98\x80 \x01\t\n", "::1", 1, 65535,
                        cluster::Health::kUnknown);
  c.zone = "z\"q";
  c.labels = {{"k\x7f", "v\n"}, {"", ""}};
  c.registered_at_ms = -1;
  f.instances = {a, b, c};
  return f;
}

std::optional<CacheFile> parse(std::string_view text, std::string* why = nullptr) {
  return parseCacheFile(text, why);
}

// Parses text that must be rejected; returns why.
std::string rejected(std::string_view text) {
  std::string why;
  auto f = parseCacheFile(text, &why);
  EXPECT_FALSE(f.has_value()) << "accepted: " << text;
  EXPECT_FALSE(why.empty()) << text;
  return why;
}

TEST(CacheFileFormat, RoundTripKeepsEveryField) {
  CacheFile in = sample();
  std::string text = serializeCacheFile(in);
  EXPECT_EQ(text.back(), '\n');
  std::string why;
  auto out = parse(text, &why);
  ASSERT_TRUE(out.has_value()) << why << "\n" << text;
  EXPECT_EQ(out->cluster, in.cluster);
  EXPECT_EQ(out->watch_key, in.watch_key);
  EXPECT_EQ(out->written_at_ms, in.written_at_ms);
  ASSERT_EQ(out->instances.size(), in.instances.size());
  for (std::size_t i = 0; i < in.instances.size(); ++i) {
    EXPECT_EQ(out->instances[i], in.instances[i]) << "instance " << i;
  }
  // Labels keep order and repeats.
  EXPECT_EQ(out->instances[0].labels, in.instances[0].labels);
  EXPECT_EQ(out->instances[1].health, cluster::Health::kUnhealthy);
  EXPECT_EQ(out->instances[2].health, cluster::Health::kUnknown);
  // Serializing again gives the same text.
  EXPECT_EQ(serializeCacheFile(*out), text);
}

TEST(CacheFileFormat, EmptySetRoundTrips) {
  CacheFile in;
  in.cluster = "c";
  in.watch_key = "k";
  auto out = parse(serializeCacheFile(in));
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->cluster, "c");
  EXPECT_EQ(out->watch_key, "k");
  EXPECT_EQ(out->written_at_ms, 0);
  EXPECT_TRUE(out->instances.empty());
}

// A minimal valid file with `endpoint` as its only endpoint.
std::string withEndpoint(const std::string& endpoint) {
  return R"({"format":1,"cluster":"c","watch":"k","written_at_ms":5,"endpoints":[)" + endpoint +
         "]}";
}

std::string endpoint(const std::string& port = "80", const std::string& weight = "1",
                     const std::string& labels = "[]") {
  return R"({"id":"a","host":"10.0.0.1","port":)" + port + R"(,"weight":)" + weight +
         R"(,"zone":"","health":"healthy","registered_at_ms":0,"labels":)" + labels + "}";
}

TEST(CacheFileFormat, HandWrittenFileAccepted) {
  std::string why;
  auto f = parse(withEndpoint(endpoint()), &why);
  ASSERT_TRUE(f.has_value()) << why;
  ASSERT_EQ(f->instances.size(), 1u);
  EXPECT_EQ(f->instances[0].host, "10.0.0.1");
  EXPECT_EQ(f->instances[0].port, 80);
}

TEST(CacheFileFormat, WrongFormatVersionRejected) {
  std::string good = withEndpoint(endpoint());
  for (const char* format : {R"("format":2)", R"("format":0)", R"("format":"1")", R"("format":1.0)",
                             R"("format":null)"}) {
    std::string text = good;
    text.replace(text.find(R"("format":1)"), 10, format);
    EXPECT_EQ(rejected(text), "unknown format version") << text;
  }
  std::string text = good;
  text.erase(text.find(R"("format":1,)"), 11);
  EXPECT_EQ(rejected(text), "unknown format version") << text;
}

TEST(CacheFileFormat, NotJsonOrNotAnObjectRejected) {
  EXPECT_TRUE(contains(rejected(""), "not JSON"));
  EXPECT_TRUE(contains(rejected("{\"format\":1,"), "not JSON"));
  EXPECT_TRUE(contains(rejected(serializeCacheFile(sample()) + "x"), "not JSON"));
  EXPECT_EQ(rejected("[1]"), "unknown format version");
}

TEST(CacheFileFormat, MissingTopLevelFieldsRejected) {
  const std::string good = withEndpoint(endpoint());
  for (const char* field : {R"("cluster":"c",)", R"("watch":"k",)", R"("written_at_ms":5,)"}) {
    std::string text = good;
    text.erase(text.find(field), std::string_view(field).size());
    EXPECT_EQ(rejected(text), "missing cluster, watch, written_at_ms or endpoints") << text;
  }
  EXPECT_EQ(rejected(R"({"format":1,"cluster":"c","watch":"k","written_at_ms":5})"),
            "missing cluster, watch, written_at_ms or endpoints");
  EXPECT_EQ(rejected(R"({"format":1,"cluster":"c","watch":"k","written_at_ms":5,"endpoints":{}})"),
            "missing cluster, watch, written_at_ms or endpoints");
  EXPECT_EQ(rejected(R"({"format":1,"cluster":1,"watch":"k","written_at_ms":5,"endpoints":[]})"),
            "missing cluster, watch, written_at_ms or endpoints");
  EXPECT_EQ(
      rejected(R"({"format":1,"cluster":"c","watch":"k","written_at_ms":5.5,"endpoints":[]})"),
      "missing cluster, watch, written_at_ms or endpoints");
}

TEST(CacheFileFormat, EndpointMissingAFieldRejected) {
  const std::string ep = endpoint();
  for (const char* field :
       {R"("id":"a",)", R"("host":"10.0.0.1",)", R"("port":80,)", R"("weight":1,)", R"("zone":"",)",
        R"("health":"healthy",)", R"("registered_at_ms":0,)", R"(,"labels":[])"}) {
    std::string e = ep;
    std::size_t at = e.find(field);
    ASSERT_NE(at, std::string::npos) << field;
    e.erase(at, std::string_view(field).size());
    EXPECT_EQ(rejected(withEndpoint(e)), "an endpoint lacks a field or has a bad value") << e;
  }
}

TEST(CacheFileFormat, BadPortOrWeightRejected) {
  for (const char* port : {"0", "65536", "-1", "\"80\"", "80.0", "null"}) {
    EXPECT_EQ(rejected(withEndpoint(endpoint(port))),
              "an endpoint lacks a field or has a bad value")
        << port;
  }
  EXPECT_TRUE(parse(withEndpoint(endpoint("1"))).has_value());
  EXPECT_TRUE(parse(withEndpoint(endpoint("65535"))).has_value());
  for (const char* weight : {"-1", "65536", "\"1\"", "1.5"}) {
    EXPECT_EQ(rejected(withEndpoint(endpoint("80", weight))),
              "an endpoint lacks a field or has a bad value")
        << weight;
  }
  EXPECT_TRUE(parse(withEndpoint(endpoint("80", "0"))).has_value());
  EXPECT_TRUE(parse(withEndpoint(endpoint("80", "65535"))).has_value());
}

TEST(CacheFileFormat, BadLabelsRejected) {
  for (const char* labels : {R"({"a":"b"})", R"([["a"]])", R"([["a","b","c"]])", R"([["a",1]])",
                             R"([[1,"b"]])", R"(["a"])", R"([{"a":"b"}])"}) {
    EXPECT_EQ(rejected(withEndpoint(endpoint("80", "1", labels))),
              labels[0] == '{' ? "an endpoint lacks a field or has a bad value"
                               : "a label is not a [key, value] pair of strings")
        << labels;
  }
}

TEST(CacheFileFormat, OneBadEndpointRejectsTheWholeFile) {
  EXPECT_FALSE(parse(withEndpoint(endpoint() + "," + endpoint("0"))).has_value());
  EXPECT_FALSE(parse(withEndpoint(endpoint() + ",42")).has_value());
}

// A fresh directory under the build's temp dir, removed at the end.
class CacheFileDisk : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "pilotfish-cache-file-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(dir_, ec);
  }

  std::set<std::string> entries() const {
    std::set<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) out.insert(e.path().filename().string());
    return out;
  }

  static std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::string dir_;
};

TEST_F(CacheFileDisk, WritesTheContentAndLeavesNoTemporaryFile) {
  std::string why;
  std::string data = serializeCacheFile(sample());
  ASSERT_TRUE(writeFileAtomically(dir_, "users-0123.json", data, &why)) << why;
  EXPECT_EQ(slurp(fs::path(dir_) / "users-0123.json"), data);
  EXPECT_EQ(entries(), (std::set<std::string>{"users-0123.json"}));
  auto back = parseCacheFile(slurp(fs::path(dir_) / "users-0123.json"), &why);
  ASSERT_TRUE(back.has_value()) << why;
  EXPECT_EQ(back->instances, sample().instances);
}

TEST_F(CacheFileDisk, OverwriteReplacesTheWholeContent) {
  std::string why;
  ASSERT_TRUE(writeFileAtomically(dir_, "f.json", std::string(100000, 'a'), &why)) << why;
  ASSERT_TRUE(writeFileAtomically(dir_, "f.json", "short", &why)) << why;
  EXPECT_EQ(slurp(fs::path(dir_) / "f.json"), "short");
  ASSERT_TRUE(writeFileAtomically(dir_, "f.json", "", &why)) << why;
  EXPECT_EQ(slurp(fs::path(dir_) / "f.json"), "");
  EXPECT_EQ(entries(), (std::set<std::string>{"f.json"}));
}

TEST_F(CacheFileDisk, ReplacesTheFileRatherThanWritingIntoIt) {
  // A reader holding the old file keeps seeing the old content: the new one is a new inode.
  std::string why;
  ASSERT_TRUE(writeFileAtomically(dir_, "f.json", "old", &why)) << why;
  std::ifstream reader(fs::path(dir_) / "f.json", std::ios::binary);
  ASSERT_TRUE(reader.is_open());
  ASSERT_TRUE(writeFileAtomically(dir_, "f.json", "new content", &why)) << why;
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(reader), {}), "old");
  EXPECT_EQ(slurp(fs::path(dir_) / "f.json"), "new content");
}

TEST_F(CacheFileDisk, MissingDirectoryFails) {
  std::string why;
  std::string missing = dir_ + "/does/not/exist";
  EXPECT_FALSE(writeFileAtomically(missing, "f.json", "x", &why));
  EXPECT_TRUE(contains(why, missing)) << why;
  EXPECT_TRUE(contains(why, "No such file or directory")) << why;
  EXPECT_FALSE(fs::exists(missing));
}

TEST_F(CacheFileDisk, DirectoryThatIsARegularFileFails) {
  // Works as root too, where permission bits do not stop a write.
  std::string file = dir_ + "/plain";
  std::ofstream(file) << "x";
  std::string why;
  EXPECT_FALSE(writeFileAtomically(file, "f.json", "data", &why));
  EXPECT_TRUE(contains(why, "Not a directory")) << why;
  EXPECT_EQ(slurp(file), "x");
}

TEST_F(CacheFileDisk, TargetThatIsADirectoryFailsAndCleansUp) {
  fs::create_directory(fs::path(dir_) / "f.json");
  std::string why;
  EXPECT_FALSE(writeFileAtomically(dir_, "f.json", "data", &why));
  EXPECT_TRUE(contains(why, "f.json")) << why;
  // The temporary file was removed after the failed rename.
  EXPECT_EQ(entries(), (std::set<std::string>{"f.json"}));
  EXPECT_TRUE(fs::is_directory(fs::path(dir_) / "f.json"));
}

TEST_F(CacheFileDisk, ReadOnlyDirectoryFails) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  fs::permissions(dir_, fs::perms::owner_read | fs::perms::owner_exec);
  std::string why;
  EXPECT_FALSE(writeFileAtomically(dir_, "f.json", "data", &why));
  EXPECT_TRUE(contains(why, "Permission denied")) << why;
}

TEST_F(CacheFileDisk, ReadSmallFile) {
  std::string why;
  std::string data(40000, 'q');  // more than one read buffer
  data[12345] = '\0';
  ASSERT_TRUE(writeFileAtomically(dir_, "f", data, &why)) << why;
  std::string path = dir_ + "/f";
  auto got = readSmallFile(path, 40000, &why);
  ASSERT_TRUE(got.has_value()) << why;
  EXPECT_EQ(*got, data);
  EXPECT_FALSE(readSmallFile(path, 39999, &why).has_value());
  EXPECT_EQ(why, "larger than 39999 bytes");
  EXPECT_FALSE(readSmallFile(path, 0, &why).has_value());
  EXPECT_EQ(why, "larger than 0 bytes");

  ASSERT_TRUE(writeFileAtomically(dir_, "empty", "", &why)) << why;
  got = readSmallFile(dir_ + "/empty", 0, &why);
  ASSERT_TRUE(got.has_value()) << why;
  EXPECT_EQ(*got, "");
}

TEST_F(CacheFileDisk, ReadSmallFileErrors) {
  std::string why;
  EXPECT_FALSE(readSmallFile(dir_ + "/missing", 100, &why).has_value());
  EXPECT_TRUE(contains(why, "No such file or directory")) << why;
  EXPECT_FALSE(readSmallFile(dir_, 100, &why).has_value());
  EXPECT_TRUE(contains(why, "Is a directory")) << why;
  EXPECT_FALSE(readSmallFile(dir_ + "/missing", 100, nullptr).has_value());
}

TEST(DiscoveryCacheFileName, StablePerWatchKeyAndDifferentAcrossKeys) {
  std::string a = DiscoveryCache::cacheFileName("users", "zookeeper|zk|/services/users");
  EXPECT_EQ(a, DiscoveryCache::cacheFileName("users", "zookeeper|zk|/services/users"));
  EXPECT_EQ(a, DiscoveryCache::cacheFileName(std::string("users"),
                                             std::string("zookeeper|zk|") + "/services/users"));
  EXPECT_NE(a, DiscoveryCache::cacheFileName("users", "zookeeper|zk|/services/users2"));
  EXPECT_NE(a, DiscoveryCache::cacheFileName("users", "consul|c|users"));
  EXPECT_NE(a, DiscoveryCache::cacheFileName("users", ""));
  EXPECT_NE(a, DiscoveryCache::cacheFileName("orders", "zookeeper|zk|/services/users"));
  // "<cluster>-<16 hex digits>.json"
  ASSERT_EQ(a.size(), std::string("users-").size() + 16 + std::string(".json").size()) << a;
  EXPECT_EQ(a.substr(0, 6), "users-");
  EXPECT_EQ(a.substr(a.size() - 5), ".json");
  EXPECT_EQ(a.substr(6, 16).find_first_not_of("0123456789abcdef"), std::string::npos) << a;
  // Many distinct keys, no collisions.
  std::set<std::string> names;
  for (int i = 0; i < 1000; ++i) {
    names.insert(DiscoveryCache::cacheFileName("c", "key" + std::to_string(i)));
  }
  EXPECT_EQ(names.size(), 1000u);
}

TEST(DiscoveryBackoff, DelaysWithinHalfToFullDoublingToTheCap) {
  // Defaults: 0.5 s doubling up to 30 s.
  const int64_t expected[] = {500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000};
  for (int round = 0; round < 200; ++round) {
    Backoff b;
    for (int64_t d : expected) {
      int64_t got = b.next().count();
      ASSERT_GE(got, d / 2) << "round " << round << " step " << d;
      ASSERT_LE(got, d) << "round " << round << " step " << d;
    }
  }
}

TEST(DiscoveryBackoff, CustomBaseAndCap) {
  const int64_t expected[] = {100, 200, 400, 800, 1000, 1000, 1000};
  for (int round = 0; round < 200; ++round) {
    Backoff b(milliseconds(100), milliseconds(1000));
    for (int64_t d : expected) {
      int64_t got = b.next().count();
      ASSERT_GE(got, d / 2) << d;
      ASSERT_LE(got, d) << d;
    }
  }
  // A base above the cap is clamped to the cap.
  Backoff over(milliseconds(5000), milliseconds(1000));
  for (int i = 0; i < 5; ++i) {
    int64_t got = over.next().count();
    EXPECT_GE(got, 500);
    EXPECT_LE(got, 1000);
  }
}

TEST(DiscoveryBackoff, StaysAtTheCapForever) {
  Backoff b(milliseconds(1), milliseconds(64));
  for (int i = 0; i < 10000; ++i) {
    int64_t got = b.next().count();
    ASSERT_LE(got, 64) << i;
    if (i >= 6) {
      ASSERT_GE(got, 32) << i;
    }
  }
}

TEST(DiscoveryBackoff, ResetStartsOverFromTheBase) {
  for (int round = 0; round < 100; ++round) {
    Backoff b;
    for (int i = 0; i < 10; ++i) b.next();
    b.reset();
    int64_t first = b.next().count();
    ASSERT_GE(first, 250);
    ASSERT_LE(first, 500);
    int64_t second = b.next().count();
    ASSERT_GE(second, 500);
    ASSERT_LE(second, 1000);
  }
}

TEST(DiscoveryBackoff, IsJittered) {
  // Full jitter: reconnecting watchers must not retry in lockstep.
  std::set<int64_t> seen;
  for (int i = 0; i < 100; ++i) seen.insert(Backoff().next().count());
  EXPECT_GT(seen.size(), 10u);
  for (int64_t d : seen) {
    EXPECT_GE(d, 250);
    EXPECT_LE(d, 500);
  }
}

}  // namespace
}  // namespace pilotfish::discovery
