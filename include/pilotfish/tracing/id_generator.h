#pragma once
// Random IDs for tracing: trace IDs, span IDs, UUIDv4 request IDs and sampling draws, from a
// per-worker xoshiro256** generator (https://prng.di.unimi.it/). Fast (a few ns per draw, no
// syscall, no lock) and statistically strong; not cryptographic — these IDs correlate requests,
// they are not secrets.
//
// Thread ownership: worker-local. One IdGenerator per worker, used only by that worker; it is
// NOT thread-safe. In debug builds the first thread to draw owns it and any other thread
// drawing asserts.

#include <array>
#include <cstdint>
#include <string_view>

#ifndef NDEBUG
#include <thread>
#endif

#include "pilotfish/tracing/fixed_string.h"
#include "pilotfish/tracing/trace_context.h"

namespace pilotfish::tracing {

/// Length of the canonical UUID text form, `8-4-4-4-12` hex digits.
inline constexpr std::size_t kUuidLen = 36;
using UuidString = FixedString<kUuidLen>;

class IdGenerator {
 public:
  /// Seeds 256 bits from the OS (getrandom(2), non-blocking). Should the kernel not deliver
  /// (no entropy yet, ENOSYS), falls back to mixing clocks, pid, thread and address through
  /// splitmix64, and seededFromOs() returns false so the caller can log it. Never throws.
  IdGenerator();

  /// Deterministic sequence for tests and benchmarks: the state is expanded from `seed` with
  /// splitmix64, as the xoshiro authors recommend. Equal seeds give equal sequences.
  explicit IdGenerator(uint64_t seed);

  /// A generator with exactly this xoshiro256** state (not all zeros), for known-answer tests.
  static IdGenerator fromState(const std::array<uint64_t, 4>& state);

  // Copying would hand two owners the same sequence (and so the same IDs). A move gives the
  // target this sequence and jumps the source 2^128 draws ahead, so the two never overlap.
  IdGenerator(const IdGenerator&) = delete;
  IdGenerator& operator=(const IdGenerator&) = delete;
  IdGenerator(IdGenerator&& other) noexcept;
  IdGenerator& operator=(IdGenerator&& other) noexcept;

  /// Next 64 uniformly distributed bits.
  uint64_t next64() {
    checkOwner();
    return step();
  }

  /// Uniform in [0, 1) with 53 bits of precision.
  double nextDouble() { return static_cast<double>(next64() >> 11) * 0x1.0p-53; }

  /// A Bernoulli draw: true with probability `rate`. rate <= 0 (or NaN) is always false and
  /// rate >= 1 always true; neither consumes a draw.
  bool sample(double rate) {
    if (!(rate > 0.0)) return false;
    if (rate >= 1.0) return true;
    return nextDouble() < rate;
  }

  /// Advances the state by 2^128 draws (the xoshiro256 jump polynomial): generators seeded
  /// alike and jumped 0, 1, 2, ... times yield non-overlapping sequences.
  void jump();

  /// A random 128-bit trace ID, never all zeros.
  TraceId traceId();

  /// A random 64-bit span ID, never zero.
  uint64_t spanId();

  /// A random (version 4) UUID in lowercase canonical form, e.g.
  /// `0f8fad5b-d9cb-469f-a165-70867728950e`: 122 random bits, version nibble 4, RFC 9562
  /// variant bits `10`.
  UuidString uuidV4();
  /// uuidV4() written to out[0..kUuidLen).
  void writeUuidV4(char* out);

  /// True when the seed came from the OS; false for a fallback (see above) or a given seed.
  bool seededFromOs() const { return os_seeded_; }

 private:
  IdGenerator(const std::array<uint64_t, 4>& state, bool os_seeded)
      : s_(state), os_seeded_(os_seeded) {}
  // One xoshiro256** step.
  uint64_t step() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  static constexpr uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  void seedFrom(uint64_t seed);

#ifndef NDEBUG
  void checkOwner();
  std::thread::id owner_{};
#else
  void checkOwner() {}
#endif

  std::array<uint64_t, 4> s_{};
  bool os_seeded_ = false;
};

}  // namespace pilotfish::tracing
