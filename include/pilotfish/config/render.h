#pragma once
// The effective configuration (every default filled in) as JSON, for the admin `/config`
// endpoint and `pilotfish validate --print`-style tooling.
//
// Redaction rule: a value that is a secret (a token, a password, a private key) is held in a
// config::Secret and is always written as the string "<redacted>" (or null when unset). Paths to
// files that hold secrets (e.g. a `token_file`) are not secrets and are shown as they are. Plain
// std::string fields are never secrets; a new secret field must use config::Secret.
// Thread-safety: pure functions of their arguments.

#include <string>
#include <string_view>

#include "pilotfish/config/config.h"
#include "pilotfish/core/json.h"

namespace pilotfish::config {

/// What every secret is rendered as.
inline constexpr std::string_view kRedacted = "<redacted>";

/// The effective config as one JSON object. Keys mirror the YAML keys; durations are rendered
/// as accepted back ("5s", "1500ms"), addresses as "ip:port" / "[ipv6]:port", sizes as bytes,
/// unset optional values as null. An http listener shows its effective routes (the catch-all
/// route for its `cluster` included) and its effective tracing settings (merged with the
/// top-level `tracing`); a tcp listener has no http keys.
std::string toJson(const Config& config);

/// Writes `k` and either "<redacted>" (secret set) or null (unset). The only way a Secret is
/// ever written.
void writeSecret(core::JsonWriter& w, std::string_view k, const Secret& secret);

}  // namespace pilotfish::config
