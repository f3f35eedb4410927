#pragma once
// Helpers shared by the loader tests: load a YAML text as "test.yaml" and compare its errors by
// exact position, key path and message text.

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "pilotfish/config/loader.h"

namespace pilotfish::config::test_util {

using Errors = std::vector<ConfigError>;

inline constexpr const char* kFile = "test.yaml";

inline std::string dump(const Errors& errors) {
  std::string out;
  for (const auto& e : errors) out += "  " + e.toString() + "\n";
  return out;
}

inline Errors errorsOf(std::string_view yaml) {
  auto result = loadFromString(yaml, kFile);
  if (auto* errors = std::get_if<Errors>(&result)) return *errors;
  ADD_FAILURE() << "config was accepted, expected errors:\n" << yaml;
  return {};
}

inline ConfigPtr configOf(std::string_view yaml) {
  auto result = loadFromString(yaml, kFile);
  if (auto* errors = std::get_if<Errors>(&result)) {
    ADD_FAILURE() << "unexpected errors:\n" << dump(*errors);
    return nullptr;
  }
  return std::get<ConfigPtr>(result);
}

// True when some error has exactly this position and path and a message containing `text`.
inline ::testing::AssertionResult hasError(const Errors& errors, int line, int column,
                                           std::string_view path, std::string_view text) {
  for (const auto& e : errors) {
    if (e.file == kFile && e.line == line && e.column == column && e.path == path &&
        e.message.find(text) != std::string::npos) {
      return ::testing::AssertionSuccess();
    }
  }
  return ::testing::AssertionFailure() << "no error " << line << ":" << column << " [" << path
                                       << "] ~ \"" << text << "\" among:\n"
                                       << dump(errors);
}

// Exactly one error, with this position, path and message text.
inline ::testing::AssertionResult onlyError(std::string_view yaml, int line, int column,
                                            std::string_view path, std::string_view text) {
  Errors errors = errorsOf(yaml);
  if (errors.size() != 1) {
    return ::testing::AssertionFailure() << "expected 1 error, got " << errors.size() << ":\n"
                                         << dump(errors);
  }
  return hasError(errors, line, column, path, text);
}

}  // namespace pilotfish::config::test_util
