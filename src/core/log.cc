#include "pilotfish/core/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <array>

#include "pilotfish/core/json.h"

namespace pilotfish::core {
namespace {

constexpr std::array<std::string_view, 7> kLevels = {"trace", "debug",    "info", "warn",
                                                     "error", "critical", "off"};

// %* : the message, JSON-escaped, so that a JSON log line stays one valid object whatever the
// message holds (peer-controlled strings end up in messages).
class JsonEscapedMessage : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string escaped;
    appendJsonEscaped(escaped, std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(escaped.data(), escaped.data() + escaped.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonEscapedMessage>();
  }
};

spdlog::level::level_enum toLevel(std::string_view level) {
  for (std::size_t i = 0; i < kLevels.size(); ++i) {
    if (kLevels[i] == level) return static_cast<spdlog::level::level_enum>(i);
  }
  return spdlog::level::info;
}

}  // namespace

bool isValidLogLevel(std::string_view level) {
  for (auto l : kLevels) {
    if (l == level) return true;
  }
  return false;
}

void initLogging(std::string_view level, LogFormatKind format) {
  auto logger = spdlog::get("pilotfish");
  if (!logger) {
    logger = spdlog::stderr_logger_mt("pilotfish");
    spdlog::set_default_logger(logger);
  }
  std::unique_ptr<spdlog::pattern_formatter> formatter;
  if (format == LogFormatKind::kJson) {
    formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    formatter->add_flag<JsonEscapedMessage>('*').set_pattern(
        R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","thread":%t,"msg":"%*"})");
  } else {
    formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->set_pattern("[%Y-%m-%dT%H:%M:%S.%e] [%l] [%t] %v");
  }
  logger->set_formatter(std::move(formatter));
  logger->set_level(toLevel(level));
  logger->flush_on(spdlog::level::warn);
}

bool setLogLevel(std::string_view level) {
  if (!isValidLogLevel(level)) return false;
  spdlog::default_logger()->set_level(toLevel(level));
  return true;
}

std::string logLevel() {
  auto l = spdlog::default_logger()->level();
  return std::string(kLevels[static_cast<std::size_t>(l)]);
}

}  // namespace pilotfish::core
