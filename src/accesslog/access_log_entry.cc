#include "pilotfish/accesslog/access_log_entry.h"

#include <cstring>
#include <limits>

namespace pilotfish::accesslog {

namespace {

constexpr std::size_t sumOfCaps() {
  std::size_t sum = 0;
  for (std::size_t i = 0; i < kFieldCount; ++i) sum += AccessLogEntry::maxLength(Field(i));
  return sum;
}
// Setting every field once must always fit, whatever the order.
static_assert(sumOfCaps() <= AccessLogEntry::kArenaSize);
static_assert(AccessLogEntry::kArenaSize <= std::numeric_limits<uint16_t>::max());

// Largest n' <= n such that cutting `v` at n' does not split a UTF-8 sequence.
std::size_t utf8Cut(std::string_view v, std::size_t n) {
  if (n >= v.size()) return v.size();
  std::size_t cut = n;
  // Back off over continuation bytes (at most 3: the longest sequence is 4 bytes).
  for (int k = 0; k < 3 && cut > 0 && (static_cast<unsigned char>(v[cut]) & 0xc0) == 0x80; ++k) {
    --cut;
  }
  // If we did not reach a lead byte, the input is not UTF-8 here: cut at n (the formatter
  // escapes the invalid bytes anyway).
  if ((static_cast<unsigned char>(v[cut]) & 0xc0) == 0x80) return n;
  return cut;
}

}  // namespace

void AccessLogEntry::clear() {
  present_ = 0;
  truncated_ = false;
  used_ = 0;
}

void AccessLogEntry::setString(Field f, std::string_view v) {
  int slot = stringSlot(f);
  if (slot < 0) return;
  std::size_t cap = maxLength(f);
  std::size_t n = v.size();
  if (n > cap) {
    n = utf8Cut(v, cap);
    truncated_ = true;
  }
  std::size_t off;
  if (has(f) && n <= len_[slot]) {
    off = off_[slot];  // reuse the old bytes
  } else {
    off = used_;
    std::size_t room = kArenaSize - used_;
    if (n > room) {  // only when fields are set repeatedly with growing values
      n = utf8Cut(v, room);
      truncated_ = true;
    }
    used_ = static_cast<uint16_t>(used_ + n);
  }
  if (n > 0) std::memcpy(arena_ + off, v.data(), n);
  off_[slot] = static_cast<uint16_t>(off);
  len_[slot] = static_cast<uint16_t>(n);
  present_ |= bit(f);
}

void AccessLogEntry::setNumber(Field f, uint64_t v) {
  int slot = numberSlot(f);
  if (slot < 0) return;
  nums_[slot] = v;
  present_ |= bit(f);
}

std::string_view AccessLogEntry::string(Field f) const {
  int slot = stringSlot(f);
  if (slot < 0 || !has(f)) return {};
  return {arena_ + off_[slot], len_[slot]};
}

uint64_t AccessLogEntry::number(Field f) const {
  int slot = numberSlot(f);
  if (slot < 0 || !has(f)) return 0;
  return nums_[slot];
}

void AccessLogEntry::copyFrom(const AccessLogEntry& other) {
  present_ = other.present_;
  truncated_ = other.truncated_;
  used_ = other.used_;
  ts_us_ = other.ts_us_;
  std::memcpy(nums_, other.nums_, sizeof nums_);
  std::memcpy(off_, other.off_, sizeof off_);
  std::memcpy(len_, other.len_, sizeof len_);
  if (used_ > 0) std::memcpy(arena_, other.arena_, used_);
}

}  // namespace pilotfish::accesslog
