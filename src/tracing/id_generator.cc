#include "pilotfish/tracing/id_generator.h"

#include <sys/random.h>
#include <unistd.h>

#include <atomic>
#include <cassert>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <thread>

namespace pilotfish::tracing {
namespace {

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Fills `buf` from the kernel's CSPRNG. GRND_NONBLOCK: a proxy starting before the pool is
// initialised (early boot) must not hang; it takes the fallback instead.
bool osRandom(void* buf, std::size_t len) {
  auto* p = static_cast<unsigned char*>(buf);
  while (len > 0) {
    const ssize_t n = ::getrandom(p, len, GRND_NONBLOCK);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += n;
    len -= static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

IdGenerator::IdGenerator() {
  if (osRandom(s_.data(), sizeof(s_)) && (s_[0] | s_[1] | s_[2] | s_[3]) != 0) {
    os_seeded_ = true;
    return;
  }
  // Fallback: distinct per process, thread, instance and call, though guessable. Good enough
  // for correlation IDs; the caller logs that it happened.
  static std::atomic<uint64_t> calls{0};
  uint64_t x = static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  x ^= static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) << 1;
  x ^= static_cast<uint64_t>(::getpid()) << 32;
  x ^= std::hash<std::thread::id>{}(std::this_thread::get_id());
  x ^= reinterpret_cast<uintptr_t>(this);
  x ^= calls.fetch_add(1, std::memory_order_relaxed) * 0x9e3779b97f4a7c15ULL;
  seedFrom(x);
}

IdGenerator::IdGenerator(uint64_t seed) {
  seedFrom(seed);
}

IdGenerator IdGenerator::fromState(const std::array<uint64_t, 4>& state) {
  // All zeros is xoshiro's one fixed point (it would yield 0 forever); never hand that out.
  if ((state[0] | state[1] | state[2] | state[3]) == 0) return IdGenerator(uint64_t{0});
  return IdGenerator(state, /*os_seeded=*/false);
}

IdGenerator::IdGenerator(IdGenerator&& other) noexcept
    : s_(other.s_), os_seeded_(other.os_seeded_) {
  other.jump();
}

IdGenerator& IdGenerator::operator=(IdGenerator&& other) noexcept {
  if (this != &other) {
    s_ = other.s_;
    os_seeded_ = other.os_seeded_;
#ifndef NDEBUG
    owner_ = std::thread::id{};
#endif
    other.jump();
  }
  return *this;
}

void IdGenerator::jump() {
  static constexpr uint64_t kJump[] = {0x180ec6d33cfd0abaULL, 0xd5a61266f0c9392cULL,
                                       0xa9582618e03fc9aaULL, 0x39abdc4529b1661cULL};
  std::array<uint64_t, 4> t{};
  for (uint64_t word : kJump) {
    for (int b = 0; b < 64; ++b) {
      if (word & (uint64_t{1} << b)) {
        for (std::size_t i = 0; i < t.size(); ++i) t[i] ^= s_[i];
      }
      step();  // not next64(): a move may happen on a thread other than the owner
    }
  }
  s_ = t;
}

void IdGenerator::seedFrom(uint64_t seed) {
  // splitmix64 never yields four zeros in a row, so the xoshiro state is never all-zero.
  for (auto& w : s_) w = splitmix64(seed);
}

#ifndef NDEBUG
void IdGenerator::checkOwner() {
  const auto self = std::this_thread::get_id();
  if (owner_ == std::thread::id{}) owner_ = self;
  assert(owner_ == self && "IdGenerator is worker-local: used from a second thread");
}
#endif

TraceId IdGenerator::traceId() {
  TraceId id;
  do {
    id.high = next64();
    id.low = next64();
  } while (id.isZero());
  return id;
}

uint64_t IdGenerator::spanId() {
  uint64_t id;
  do {
    id = next64();
  } while (id == 0);
  return id;
}

UuidString IdGenerator::uuidV4() {
  UuidString out;
  writeUuidV4(out.extend(kUuidLen));
  return out;
}

void IdGenerator::writeUuidV4(char* p) {
  uint64_t hi = next64();
  uint64_t lo = next64();
  hi = (hi & ~0xf000ULL) | 0x4000ULL;                         // version 4: octet 6 high nibble
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 10: octet 8 top bits
  char hex[32];
  writeHex64(hi, hex);
  writeHex64(lo, hex + 16);
  // 8-4-4-4-12
  std::memcpy(p, hex, 8);
  p[8] = '-';
  std::memcpy(p + 9, hex + 8, 4);
  p[13] = '-';
  std::memcpy(p + 14, hex + 12, 4);
  p[18] = '-';
  std::memcpy(p + 19, hex + 16, 4);
  p[23] = '-';
  std::memcpy(p + 24, hex + 20, 12);
}

}  // namespace pilotfish::tracing
