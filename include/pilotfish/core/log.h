#pragma once
// Process-wide logging on spdlog. The logger is created once at start (before workers) and is
// thread-safe; the level may be changed at run time from any thread.

#include <string>
#include <string_view>

namespace pilotfish::core {

enum class LogFormatKind { kText, kJson };

/// Installs the default logger writing to stderr in the given format. `level` as in
/// `parseLogLevel`. Safe to call again (e.g. after the config is loaded) to switch format.
void initLogging(std::string_view level, LogFormatKind format);

/// True when `level` is one of trace|debug|info|warn|error|critical|off.
bool isValidLogLevel(std::string_view level);

/// Changes the level of the default logger. Returns false for an unknown level.
bool setLogLevel(std::string_view level);

/// Current level name.
std::string logLevel();

}  // namespace pilotfish::core
