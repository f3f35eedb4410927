#include "pilotfish/tracing/header_check.h"

#include <array>

#include "pilotfish/tracing/trace_context.h"
#include "pilotfish/tracing/trace_parser.h"
#include "pilotfish/tracing/trace_state.h"
#include "tracing/hex_swar.h"

namespace pilotfish::tracing {
namespace {

constexpr std::array<bool, 256> makeRequestIdChars() {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~/:=@")) t[static_cast<unsigned char>(c)] = true;
  return t;
}
constexpr std::array<bool, 256> kRequestIdChars = makeRequestIdChars();

constexpr std::array<bool, 256> makeHexDashChars(bool dash) {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'f'; ++c) t[c] = true;
  t['-'] = dash;
  return t;
}
constexpr std::array<bool, 256> makeTraceStateChars() {
  std::array<bool, 256> t{};
  for (int c = 0x20; c <= 0x7e; ++c) t[c] = true;
  t['\t'] = true;
  return t;
}
constexpr std::array<bool, 256> kTraceStateChars = makeTraceStateChars();
constexpr std::array<bool, 256> kLowerHexChars = makeHexDashChars(false);
constexpr std::array<bool, 256> kHexDashChars = makeHexDashChars(true);

// Branch-free over the value: these run on every generated header of every request.
bool allIn(std::string_view s, const std::array<bool, 256>& table) {
  bool ok = true;
  for (char c : s) ok &= table[static_cast<unsigned char>(c)];
  return ok;
}

// [0-9a-f]+ and not all '0': 8 chars per step, then the tail one by one.
bool isNonZeroLowerHex(std::string_view s) {
  if (s.empty()) return false;
  constexpr uint64_t kZeros = swar::kOnes * '0';
  uint64_t nonzero = 0;
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    const uint64_t x = swar::load8(s.data() + i);
    if (!swar::isLowerHex8(x)) return false;
    nonzero |= x ^ kZeros;
  }
  for (; i < s.size(); ++i) {
    if (!kLowerHexChars[static_cast<unsigned char>(s[i])]) return false;
    nonzero |= static_cast<uint64_t>(s[i] ^ '0');
  }
  return nonzero != 0;
}

// Charset and shape only: the list grammar was checked by normaliseTraceState() when the value
// was built, and what matters here is that nothing can break the header out of its line.
bool isValidTraceStateText(std::string_view v) {
  if (v.empty() || v.size() > kMaxTraceStateLen) return false;
  if (v.front() == ' ' || v.front() == '\t' || v.back() == ' ' || v.back() == '\t') return false;
  return allIn(v, kTraceStateChars);
}

// `00-{32 hex, not all 0}-{16 hex, not all 0}-{2 hex}`, checked by position rather than by
// re-parsing: this runs on every request that writes W3C.
bool isValidTraceparentV00(std::string_view v) {
  return v.size() == kTraceparentLen && v[0] == '0' && v[1] == '0' && v[2] == '-' && v[35] == '-' &&
         v[52] == '-' && isNonZeroLowerHex(v.substr(3, 32)) &&
         isNonZeroLowerHex(v.substr(36, 16)) && isLowerHex(v.substr(53, 2));
}

}  // namespace

bool isLowerHex(std::string_view s) {
  return !s.empty() && allIn(s, kLowerHexChars);
}

bool isValidRequestId(std::string_view s) {
  return !s.empty() && s.size() <= kMaxRequestIdLen && allIn(s, kRequestIdChars);
}

bool isValidOutgoingValue(TraceHeader h, std::string_view v) {
  switch (h) {
    case TraceHeader::kB3TraceId: return (v.size() == 32 || v.size() == 16) && isNonZeroLowerHex(v);
    case TraceHeader::kB3SpanId:
    case TraceHeader::kB3ParentSpanId: return v.size() == 16 && isNonZeroLowerHex(v);
    case TraceHeader::kB3Sampled: return v == "0" || v == "1";
    case TraceHeader::kB3Flags: return v == "1";
    case TraceHeader::kB3Single:
      return !v.empty() && v.size() <= kB3SingleMaxLen && allIn(v, kHexDashChars) &&
             parseB3Single(v).has_value();
    case TraceHeader::kTraceparent: return isValidTraceparentV00(v);
    case TraceHeader::kTracestate: return isValidTraceStateText(v);
    case TraceHeader::kRequestId: return isValidRequestId(v);
  }
  return false;
}

}  // namespace pilotfish::tracing
