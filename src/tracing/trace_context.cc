#include "pilotfish/tracing/trace_context.h"

#include <array>
#include <bit>
#include <cstring>

#include "tracing/hex_swar.h"

namespace pilotfish::tracing {
namespace {

// -1 for anything but [0-9a-f]: the specs require lowercase, and accepting uppercase here would
// let two spellings of one ID through. A table, not comparisons: random hex digits make the
// digit/letter branch unpredictable, and IDs are parsed on every request.
constexpr std::array<int8_t, 256> makeHexTable() {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int c = '0'; c <= '9'; ++c) t[c] = static_cast<int8_t>(c - '0');
  for (int c = 'a'; c <= 'f'; ++c) t[c] = static_cast<int8_t>(c - 'a' + 10);
  return t;
}
constexpr std::array<int8_t, 256> kHexValue = makeHexTable();

}  // namespace

namespace {

// The 8 lowercase hex digits of `v` as 8 bytes in memory order (most significant digit first),
// computed in a register (SWAR) so that the caller stores them with one 8-byte write: no
// per-digit loop, no table, and later wide reads of the buffer forward from a single store.
inline uint64_t hex8(uint32_t v) {
  uint64_t x = v;
  x = ((x & 0xffff0000ULL) << 16) | (x & 0x0000ffffULL);
  x = ((x & 0x0000ff000000ff00ULL) << 8) | (x & 0x000000ff000000ffULL);
  x = ((x & 0x00f000f000f000f0ULL) << 4) | (x & 0x000f000f000f000fULL);  // byte i = nibble i
  if constexpr (std::endian::native == std::endian::little) x = __builtin_bswap64(x);
  // nibble + '0', plus ('a' - '0' - 10) where nibble >= 10 (nibble + 6 carries into bit 4)
  const uint64_t letters = ((x + 0x0606060606060606ULL) >> 4) & 0x0101010101010101ULL;
  return x + 0x3030303030303030ULL + letters * ('a' - '0' - 10);
}

}  // namespace

void writeHex64(uint64_t v, char* out) {
  const uint64_t hi = hex8(static_cast<uint32_t>(v >> 32));
  const uint64_t lo = hex8(static_cast<uint32_t>(v));
  std::memcpy(out, &hi, 8);
  std::memcpy(out + 8, &lo, 8);
}

void writeTraceId(const TraceId& id, char* out) {
  writeHex64(id.high, out);
  writeHex64(id.low, out + 16);
}

void writeTraceparent(const TraceContext& ctx, char* out) {
  out[0] = '0';
  out[1] = '0';
  out[2] = '-';
  writeTraceId(ctx.trace_id, out + 3);
  out[35] = '-';
  writeHex64(ctx.span_id, out + 36);
  out[52] = '-';
  out[53] = '0';
  out[54] = ctx.isSampled() ? '1' : '0';
}

std::optional<uint64_t> parseLowerHex64(std::string_view s) {
  if (s.size() == 16) {  // every ID field: two 8-digit words
    const uint64_t a = swar::load8(s.data());
    const uint64_t b = swar::load8(s.data() + 8);
    if (!swar::isLowerHex8(a) || !swar::isLowerHex8(b)) return std::nullopt;
    return (uint64_t{swar::parseHex8(a)} << 32) | swar::parseHex8(b);
  }
  if (s.empty() || s.size() > 16) return std::nullopt;
  uint64_t v = 0;
  int bad = 0;
  for (char c : s) {
    const int d = kHexValue[static_cast<unsigned char>(c)];
    bad |= d;  // any -1 sets the sign bit; checked once at the end
    v = (v << 4) | static_cast<uint64_t>(d & 0xf);
  }
  if (bad < 0) return std::nullopt;
  return v;
}

std::optional<TraceId> parseTraceIdHex(std::string_view s, bool allow64) {
  TraceId id;
  if (s.size() == 32) {
    auto high = parseLowerHex64(s.substr(0, 16));
    auto low = parseLowerHex64(s.substr(16));
    if (!high || !low) return std::nullopt;
    id = {*high, *low};
  } else if (s.size() == 16 && allow64) {
    auto low = parseLowerHex64(s);
    if (!low) return std::nullopt;
    id = {0, *low};
  } else {
    return std::nullopt;
  }
  if (id.isZero()) return std::nullopt;
  return id;
}

std::optional<uint64_t> parseSpanIdHex(std::string_view s) {
  if (s.size() != 16) return std::nullopt;
  auto v = parseLowerHex64(s);
  if (!v || *v == 0) return std::nullopt;
  return v;
}

TraceIdHex formatTraceId(const TraceId& id) {
  TraceIdHex out;
  writeTraceId(id, out.extend(kTraceIdHexLen));
  return out;
}

SpanIdHex formatSpanId(uint64_t id) {
  SpanIdHex out;
  writeHex64(id, out.extend(kSpanIdHexLen));
  return out;
}

B3SingleValue formatB3Single(const TraceContext& ctx) {
  B3SingleValue out;
  const char state = ctx.debug ? 'd' : ctx.sampled ? (*ctx.sampled ? '1' : '0') : '\0';
  if (!ctx.hasIds()) {
    if (state != '\0') out.push(state);
    return out;
  }
  out.append(formatTraceId(ctx.trace_id).view());
  out.push('-');
  out.append(formatSpanId(ctx.span_id).view());
  if (state != '\0') {
    out.push('-');
    out.push(state);
  }
  if (ctx.parent_span_id && *ctx.parent_span_id != 0) {
    out.push('-');
    out.append(formatSpanId(*ctx.parent_span_id).view());
  }
  return out;
}

TraceparentValue formatTraceparent(const TraceContext& ctx) {
  TraceparentValue out;
  if (ctx.hasIds()) writeTraceparent(ctx, out.extend(kTraceparentLen));
  return out;
}

}  // namespace pilotfish::tracing
