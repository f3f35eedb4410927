#pragma once
// Bounded lock-free single-producer single-consumer ring of T, preallocated at construction.
//
// Thread-safety: exactly one producer thread calls tryPush(); exactly one consumer thread calls
// consume(). size()/empty() may be called from any thread and are then only a snapshot. The
// producer never blocks, never allocates and never executes a locked instruction: a push is a
// copy into the slot plus one release store (the consumer's position is re-read, with an acquire
// load, only when the ring looks full from the producer's cached copy).

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <utility>

namespace pilotfish::accesslog {

template <class T>
class SpscRing {
 public:
  /// `capacity` is rounded up to a power of two (minimum 2). Allocates every slot now.
  explicit SpscRing(std::size_t capacity)
      : capacity_(roundUp(capacity)), mask_(capacity_ - 1), slots_(new T[capacity_]) {}

  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  /// Producer only. Copies `v` into the ring; false (nothing copied) when the ring is full.
  bool tryPush(const T& v) {
    return tryPushWith([&v](T& slot) { slot = v; });
  }

  /// Producer only. Calls fill(T&) on the next free slot (which holds a stale item: fill must
  /// overwrite everything it needs) and publishes it; false (fill not called) when full.
  template <class F>
  bool tryPushWith(F&& fill) {
    uint64_t tail = tail_.load(std::memory_order_relaxed);
    if (tail - cached_head_ >= capacity_) {
      cached_head_ = head_.load(std::memory_order_acquire);
      if (tail - cached_head_ >= capacity_) return false;
    }
    fill(slots_[tail & mask_]);
    tail_.store(tail + 1, std::memory_order_release);
    return true;
  }

  /// Consumer only. Calls f(const T&) on up to `max` queued items, oldest first, then frees
  /// their slots at once. Returns how many were consumed.
  template <class F>
  std::size_t consume(F&& f, std::size_t max) {
    uint64_t head = head_.load(std::memory_order_relaxed);
    if (cached_tail_ - head < max) cached_tail_ = tail_.load(std::memory_order_acquire);
    uint64_t avail = cached_tail_ - head;
    std::size_t n = avail < max ? static_cast<std::size_t>(avail) : max;
    for (std::size_t i = 0; i < n; ++i) f(std::as_const(slots_[(head + i) & mask_]));
    if (n > 0) head_.store(head + n, std::memory_order_release);
    return n;
  }

  /// Items queued (a snapshot when called by neither side).
  std::size_t size() const {
    uint64_t head = head_.load(std::memory_order_acquire);
    uint64_t tail = tail_.load(std::memory_order_acquire);
    return static_cast<std::size_t>(tail - head);
  }
  bool empty() const { return size() == 0; }
  std::size_t capacity() const { return capacity_; }

 private:
  static std::size_t roundUp(std::size_t n) {
    std::size_t c = 2;
    while (c < n) c <<= 1;
    return c;
  }

  const std::size_t capacity_;
  const std::size_t mask_;
  const std::unique_ptr<T[]> slots_;
  // Producer's cache line: its position and its stale copy of the consumer's.
  alignas(64) std::atomic<uint64_t> tail_{0};
  uint64_t cached_head_ = 0;
  // Consumer's cache line.
  alignas(64) std::atomic<uint64_t> head_{0};
  uint64_t cached_tail_ = 0;
};

}  // namespace pilotfish::accesslog
