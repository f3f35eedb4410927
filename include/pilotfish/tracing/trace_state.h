#pragma once
// W3C `tracestate`: validation and the bounded copy pilotfish forwards. Pure functions,
// thread-safe, no allocation.

#include <cstddef>
#include <span>
#include <string_view>

#include "pilotfish/tracing/fixed_string.h"

namespace pilotfish::tracing {

/// The most `tracestate` text pilotfish forwards: the W3C minimum a vendor should propagate.
inline constexpr std::size_t kMaxTraceStateLen = 512;
/// The W3C limit on list members.
inline constexpr std::size_t kMaxTraceStateMembers = 32;
/// Members longer than this are the first dropped when the list must be shortened (W3C).
inline constexpr std::size_t kTraceStateLongMember = 128;

using TraceStateValue = FixedString<kMaxTraceStateLen>;

/// W3C `key`: a simple key (`lcalpha *255(lcalpha / DIGIT / _ - * /)`) or a multi-tenant key
/// `tenant@system` (tenant 1..241 of lcalpha/DIGIT then the same set, system 1..14 starting
/// with lcalpha).
bool isValidTraceStateKey(std::string_view key);

/// W3C `value`: 1..256 chars of %x20-2B / %x2D-3C / %x3E-7E whose last char is not a space.
bool isValidTraceStateValue(std::string_view value);

/// Validates the `tracestate` field lines of one request as one list (lines join with `,`):
/// every non-empty member (optional whitespace around it) is `key=value`, keys are unique, at
/// most kMaxTraceStateMembers members. On success writes the value to forward into `out` and
/// returns true: the lines joined with `,`, unchanged, when that fits in kMaxTraceStateLen;
/// otherwise the members re-joined with `,` after dropping members longer than
/// kTraceStateLongMember, then members from the end, until it fits (W3C truncation rules).
/// `out` is empty when the list has no members (nothing to forward). On failure `out` is
/// cleared and the whole header must be discarded.
bool normaliseTraceState(std::span<const std::string_view> fields, TraceStateValue& out);

}  // namespace pilotfish::tracing
