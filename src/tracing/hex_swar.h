#pragma once
// Eight hex digits at a time in a 64-bit register (SWAR), for the per-request ID work: checking
// and parsing 8 chars costs about as much as 2 chars done one by one. Private to src/tracing.

#include <bit>
#include <cstdint>
#include <cstring>

namespace pilotfish::tracing::swar {

inline constexpr uint64_t kOnes = 0x0101010101010101ULL;
inline constexpr uint64_t kHigh = 0x8080808080808080ULL;

/// 8 chars from `p` as one integer whose lowest byte is p[0].
inline uint64_t load8(const char* p) {
  uint64_t x;
  std::memcpy(&x, p, 8);
  if constexpr (std::endian::native == std::endian::big) x = __builtin_bswap64(x);
  return x;
}

/// 0x80 in each byte of `x` (all bytes < 0x80) that lies in [lo, hi], 0 elsewhere. A byte plus
/// (0x80 - lo) reaches bit 7 iff byte >= lo; plus (0x7f - hi) iff byte > hi; neither sum can
/// carry into the next byte because every byte is < 0x80.
inline uint64_t inRange(uint64_t x, uint8_t lo, uint8_t hi) {
  const uint64_t ge_lo = x + kOnes * static_cast<uint8_t>(0x80 - lo);
  const uint64_t gt_hi = x + kOnes * static_cast<uint8_t>(0x7f - hi);
  return ge_lo & ~gt_hi & kHigh;
}

/// True when all 8 bytes of `x` are [0-9a-f].
inline bool isLowerHex8(uint64_t x) {
  if (x & kHigh) return false;
  return (inRange(x, '0', '9') | inRange(x, 'a', 'f')) == kHigh;
}

/// The value of 8 lowercase hex digits (p[0] most significant). Requires isLowerHex8().
inline uint32_t parseHex8(uint64_t x) {
  // '0'..'9' -> low nibble; 'a'..'f' have bit 6 set and low nibble 1..6 -> add 9.
  uint64_t n = (x & (kOnes * 0x0f)) + ((x >> 6) & kOnes) * 9;
  n = __builtin_bswap64(n);  // p[0] in the top byte
  n = (n | (n >> 4)) & 0x00ff00ff00ff00ffULL;
  n = (n | (n >> 8)) & 0x0000ffff0000ffffULL;
  return static_cast<uint32_t>(n | (n >> 16));
}

}  // namespace pilotfish::tracing::swar
