// The command line: --version, --help, validate, and how `run` fails.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <regex>
#include <sstream>

#include "integration/harness/harness.h"

#include <boost/json.hpp>

namespace pilotfish::it {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

CommandResult pilotfish(std::vector<std::string> args) {
  args.insert(args.begin(), PILOTFISH_BINARY);
  return runCommand(args, 10s);
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

int exitCode(const CommandResult& r) {
  if (!r.status) return -1000;  // timed out
  return r.status->shellCode();
}

std::string goodYaml() {
  return R"(workers: 1
drain_delay: 2s
clusters:
  - name: redis
    endpoints: [127.0.0.1:6379, {address: 127.0.0.1:6380, weight: 2, zone: b}]
listeners:
  - {name: redis, address: 127.0.0.1:7379, protocol: tcp, cluster: redis, idle_timeout: 1h}
)";
}

// ---------------------------------------------------------------------------------------------

TEST(Cli, VersionExitsZero) {
  auto r = pilotfish({"--version"});
  EXPECT_EQ(exitCode(r), 0) << r.err;
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(^pilotfish \d+\.\d+\.\d+)"))) << r.out;
  EXPECT_TRUE(r.out.find("epoll") != std::string::npos ||
              r.out.find("io_uring") != std::string::npos)
      << "names the I/O backend: " << r.out;
  EXPECT_EQ(r.err, "");
}

TEST(Cli, HelpExitsZero) {
  for (const char* flag : {"--help", "-h"}) {
    auto r = pilotfish({flag});
    EXPECT_EQ(exitCode(r), 0) << flag << ": " << r.err;
    EXPECT_NE(r.out.find("validate"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("-c"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("--log-level"), std::string::npos) << r.out;
    EXPECT_EQ(r.err, "");
  }
}

TEST(Cli, ValidateGoodFileExitsZero) {
  auto path = writeTempFile(goodYaml(), ".yaml");
  auto r = pilotfish({"validate", "-c", path});
  EXPECT_EQ(exitCode(r), 0) << r.out << r.err;
  EXPECT_EQ(r.err, "");
  // The shipped examples are valid too.
  for (const char* shipped : {"/config/example.yaml", "/config/quickstart.yaml"}) {
    auto s = pilotfish({"validate", "-c", std::string(PILOTFISH_SOURCE_DIR) + shipped});
    EXPECT_EQ(exitCode(s), 0) << shipped << ": " << s.err;
  }
  // --config= spelling.
  auto eq = pilotfish({"validate", "--config=" + path});
  EXPECT_EQ(exitCode(eq), 0) << eq.err;
}

TEST(Cli, ValidateBrokenFileListsEveryErrorWithPosition) {
  // Line numbers matter below: keep the text as it is.
  const std::string yaml =
      "workers: 2\n"                        // 1
      "drain_delay: 5 seconds\n"            // 2  bad duration at 2:14
      "clusters:\n"                         // 3
      "  - name: redis\n"                   // 4
      "    endpoints: [127.0.0.1:99999]\n"  // 5  bad address at 5:17
      "listeners:\n"                        // 6
      "  - name: main\n"                    // 7
      "    address: 127.0.0.1:7000\n"       // 8
      "    cluster: rediss\n"               // 9  unknown cluster at 9:14
      "    idel_timeout: 10s\n";            // 10 unknown key at 10:5
  auto path = writeTempFile(yaml, ".yaml");
  auto r = pilotfish({"validate", "-c", path});
  EXPECT_EQ(exitCode(r), 2) << r.err;
  EXPECT_EQ(r.out, "") << "errors go to stderr";

  // Every error line is "file:LINE:COL: path: message"; a final summary line may follow.
  const std::regex err_re("^" +
                          std::regex_replace(path, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)") +
                          R"(:(\d+):(\d+): ([A-Za-z0-9_.\[\]]+): (.+)$)");
  std::map<std::string, std::pair<int, int>> where;  // path -> line, col
  std::map<std::string, std::string> message;
  int error_lines = 0;
  auto all = lines(r.err);
  for (std::size_t i = 0; i < all.size(); ++i) {
    std::smatch m;
    if (std::regex_match(all[i], m, err_re)) {
      ++error_lines;
      where[m[3]] = {std::stoi(m[1]), std::stoi(m[2])};
      message[m[3]] = m[4];
    } else {
      EXPECT_EQ(i, all.size() - 1) << "not an error line: " << all[i];
      EXPECT_NE(all[i].find("4 errors"), std::string::npos) << "summary: " << all[i];
    }
  }
  EXPECT_EQ(error_lines, 4) << r.err;

  ASSERT_TRUE(where.count("drain_delay")) << r.err;
  EXPECT_EQ(where["drain_delay"], std::make_pair(2, 14));
  EXPECT_NE(message["drain_delay"].find("5 seconds"), std::string::npos);

  ASSERT_TRUE(where.count("clusters[0].endpoints[0]")) << r.err;
  EXPECT_EQ(where["clusters[0].endpoints[0]"], std::make_pair(5, 17));

  ASSERT_TRUE(where.count("listeners[0].cluster")) << r.err;
  EXPECT_EQ(where["listeners[0].cluster"], std::make_pair(9, 14));
  EXPECT_NE(message["listeners[0].cluster"].find("rediss"), std::string::npos);
  EXPECT_NE(message["listeners[0].cluster"].find("did you mean \"redis\""), std::string::npos)
      << message["listeners[0].cluster"];

  ASSERT_TRUE(where.count("listeners[0].idel_timeout")) << r.err;
  EXPECT_EQ(where["listeners[0].idel_timeout"], std::make_pair(10, 5));
  EXPECT_NE(message["listeners[0].idel_timeout"].find("idle_timeout"), std::string::npos)
      << "suggests the right key: " << message["listeners[0].idel_timeout"];
}

TEST(Cli, RunWithBrokenFileExitsTwoWithoutServing) {
  auto path = writeTempFile("listeners: 5\n", ".yaml");
  auto r = pilotfish({"run", "-c", path});
  EXPECT_EQ(exitCode(r), 2) << r.err;
  EXPECT_NE(r.err.find(path + ":1:"), std::string::npos) << r.err;
}

TEST(Cli, MissingConfigFlagExitsTwoWithOneLine) {
  for (auto args : std::vector<std::vector<std::string>>{{"validate"}, {"run"}, {}}) {
    auto r = pilotfish(args);
    EXPECT_EQ(exitCode(r), 2) << r.err;
    auto l = lines(r.err);
    ASSERT_EQ(l.size(), 1u) << r.err;
    EXPECT_NE(l[0].find("-c"), std::string::npos) << l[0];
  }
  auto r = pilotfish({"validate", "-c"});
  EXPECT_EQ(exitCode(r), 2);
  EXPECT_EQ(lines(r.err).size(), 1u) << r.err;
}

TEST(Cli, BadArgumentsExitTwo) {
  auto path = writeTempFile(goodYaml(), ".yaml");
  auto unknown = pilotfish({"validate", "-c", path, "--frobnicate"});
  EXPECT_EQ(exitCode(unknown), 2);
  EXPECT_NE(unknown.err.find("--frobnicate"), std::string::npos) << unknown.err;
  auto level = pilotfish({"run", "-c", path, "--log-level", "loud"});
  EXPECT_EQ(exitCode(level), 2);
  EXPECT_NE(level.err.find("loud"), std::string::npos) << level.err;
  EXPECT_EQ(lines(level.err).size(), 1u) << level.err;
}

TEST(Cli, NonexistentFileExitsTwo) {
  std::string path = tempDir() + "/does-not-exist.yaml";
  auto r = pilotfish({"validate", "-c", path});
  EXPECT_EQ(exitCode(r), 2);
  EXPECT_NE(r.err.find(path), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("No such file"), std::string::npos) << r.err;
  auto run = pilotfish({"-c", path});
  EXPECT_EQ(exitCode(run), 2);
}

// A socket that holds 127.0.0.1:port (no SO_REUSEPORT, so pilotfish cannot share it).
struct PortHolder {
  int fd = -1;
  uint16_t port = 0;
  PortHolder() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    for (int i = 0; i < 20; ++i) {
      port = freePort();
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(port);
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::listen(fd, 8) == 0) {
        return;
      }
    }
    throw std::runtime_error("PortHolder: cannot bind");
  }
  ~PortHolder() { ::close(fd); }
};

TEST(Cli, RunWithListenerPortTakenExitsOne) {
  PortHolder taken;
  uint16_t admin = freePort();
  auto path = writeTempFile(
      render(R"(clusters:
  - name: c
    endpoints: [127.0.0.1:1]
listeners:
  - {name: busy, address: 127.0.0.1:${PORT}, cluster: c}
admin: {address: 127.0.0.1:${ADMIN}}
)",
             {{"PORT", std::to_string(taken.port)}, {"ADMIN", std::to_string(admin)}}),
      ".yaml");
  auto r = pilotfish({"run", "-c", path});
  EXPECT_EQ(exitCode(r), 1) << r.out << r.err;
  std::string all = r.out + r.err;
  EXPECT_NE(all.find("busy"), std::string::npos) << "names the listener: " << all;
  EXPECT_NE(all.find("127.0.0.1:" + std::to_string(taken.port)), std::string::npos) << all;
  EXPECT_NE(all.find("in use"), std::string::npos) << all;
}

TEST(Cli, RunWithAdminPortTakenExitsOne) {
  PortHolder taken;
  uint16_t listen = freePort();
  auto path = writeTempFile(
      render(R"(clusters:
  - name: c
    endpoints: [127.0.0.1:1]
listeners:
  - {name: l, address: 127.0.0.1:${PORT}, cluster: c}
admin: {address: 127.0.0.1:${ADMIN}}
)",
             {{"PORT", std::to_string(listen)}, {"ADMIN", std::to_string(taken.port)}}),
      ".yaml");
  auto r = pilotfish({"run", "-c", path});
  EXPECT_EQ(exitCode(r), 1) << r.out << r.err;
  std::string all = r.out + r.err;
  EXPECT_NE(all.find("admin"), std::string::npos) << all;
  EXPECT_NE(all.find("127.0.0.1:" + std::to_string(taken.port)), std::string::npos) << all;
  EXPECT_NE(all.find("in use"), std::string::npos) << all;
}

TEST(Cli, ImplicitRunServesAndLogLevelApplies) {
  // `pilotfish -c FILE` is `run`; --log-level overrides log.level.
  uint16_t listen = freePort();
  uint16_t admin = freePort();
  auto path =
      writeTempFile(render(R"(log: {level: error}
clusters:
  - name: c
    endpoints: [127.0.0.1:1]
listeners:
  - {name: l, address: 127.0.0.1:${PORT}, cluster: c}
admin: {address: 127.0.0.1:${ADMIN}}
)",
                           {{"PORT", std::to_string(listen)}, {"ADMIN", std::to_string(admin)}}),
                    ".yaml");
  Process p({PILOTFISH_BINARY, "-c", path, "--log-level", "debug"});
  ASSERT_TRUE(
      waitFor([&] { return !p.running() || http("GET", admin, "/ready", 1s).status == 200; }, 10s));
  ASSERT_TRUE(p.running()) << p.output();
  EXPECT_EQ(http("GET", admin, "/logging").body, "debug\n");
  p.signal(SIGTERM);
  auto st = p.wait(5s);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->shellCode(), 0) << p.output();
}

TEST(Cli, JsonLogFormatWritesOneObjectPerLine) {
  uint16_t listen = freePort();
  uint16_t admin = freePort();
  auto path =
      writeTempFile(render(R"(log: {level: info, format: json}
clusters:
  - name: c
    endpoints: [127.0.0.1:1]
listeners:
  - {name: plain, address: 127.0.0.1:${PORT}, cluster: c}
admin: {address: 127.0.0.1:${ADMIN}}
)",
                           {{"PORT", std::to_string(listen)}, {"ADMIN", std::to_string(admin)}}),
                    ".yaml");
  Process p({PILOTFISH_BINARY, "run", "-c", path});
  ASSERT_TRUE(
      waitFor([&] { return !p.running() || http("GET", admin, "/ready", 1s).status == 200; }, 10s))
      << p.output();
  p.signal(SIGTERM);
  auto st = p.wait(5s);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->shellCode(), 0);
  auto out = lines(p.output());
  ASSERT_GE(out.size(), 2u) << p.output();
  for (const auto& l : out) {
    json::value v;
    ASSERT_NO_THROW(v = parseJson(l)) << "not a JSON object: " << l;
    ASSERT_TRUE(v.is_object()) << l;
  }
}

}  // namespace
}  // namespace pilotfish::it
