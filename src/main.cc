// pilotfish entry point: parses argv and hands over to server::Server. Nothing else lives here.

#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "pilotfish/config/loader.h"
#include "pilotfish/core/log.h"
#include "pilotfish/event/worker.h"
#include "pilotfish/server/server.h"

namespace {

constexpr const char* kUsage =
    "usage: pilotfish [run] -c FILE [--log-level LEVEL]\n"
    "       pilotfish validate -c FILE\n"
    "       pilotfish --version | --help\n"
    "\n"
    "  run        serve the listeners of FILE until SIGTERM/SIGINT (the default command)\n"
    "  validate   check FILE and print every error as file:line:column: key.path: message;\n"
    "             exit 0 when valid, 2 otherwise\n"
    "  -c, --config FILE     YAML configuration (see docs/configuration.md)\n"
    "  --log-level LEVEL     trace|debug|info|warn|error|critical|off; overrides log.level\n"
    "  --version             print the version and I/O backend\n"
    "  -h, --help            print this help\n";

int usageError(const std::string& msg) {
  std::fprintf(stderr, "pilotfish: %s (see pilotfish --help)\n", msg.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string command = "run";
  std::string config_path;
  std::string log_level;
  std::vector<std::string_view> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    auto a = args[i];
    if (a == "--version") {
      std::printf("pilotfish %s (%s)\n", PILOTFISH_VERSION, pilotfish::event::ioBackendName());
      return 0;
    }
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (a == "-c" || a == "--config" || a == "--log-level") {
      if (i + 1 >= args.size()) return usageError(std::string(a) + " needs a value");
      (a == "--log-level" ? log_level : config_path) = std::string(args[++i]);
      continue;
    }
    if (a.rfind("--config=", 0) == 0) {
      config_path = std::string(a.substr(9));
      continue;
    }
    if (a.rfind("--log-level=", 0) == 0) {
      log_level = std::string(a.substr(12));
      continue;
    }
    if (i == 0 && (a == "run" || a == "validate")) {
      command = std::string(a);
      continue;
    }
    return usageError("unexpected argument \"" + std::string(a) + "\"");
  }
  if (config_path.empty()) return usageError("missing -c FILE");
  if (!log_level.empty() && !pilotfish::core::isValidLogLevel(log_level)) {
    return usageError("invalid --log-level \"" + log_level +
                      "\"; expected trace|debug|info|warn|error|critical|off");
  }

  auto result = pilotfish::config::loadFromFile(config_path);
  if (auto* errors = std::get_if<std::vector<pilotfish::config::ConfigError>>(&result)) {
    for (const auto& e : *errors) std::fprintf(stderr, "%s\n", e.toString().c_str());
    std::fprintf(stderr, "pilotfish: %s: %zu error%s\n", config_path.c_str(), errors->size(),
                 errors->size() == 1 ? "" : "s");
    return 2;
  }
  auto cfg = std::get<pilotfish::config::ConfigPtr>(std::move(result));
  if (command == "validate") {
    std::printf("%s: ok\n", config_path.c_str());
    return 0;
  }

  pilotfish::core::initLogging(log_level.empty() ? cfg->log.level : log_level,
                               cfg->log.format == pilotfish::config::LogFormat::kJson
                                   ? pilotfish::core::LogFormatKind::kJson
                                   : pilotfish::core::LogFormatKind::kText);
  pilotfish::server::Server server(std::move(cfg));
  return server.run();
}
