#pragma once
// Per-worker metrics. Each worker owns its own instance of every stats struct and is the only
// writer; the admin scraper (control thread) reads all instances and sums them. Values are
// relaxed atomics written with load+store (a plain `mov` on x86, no locked instruction), so no
// cache line or lock is ever shared between workers on the data path; the atomics only make the
// scraper's concurrent read well defined.
//
// Declaring a stats struct (one line per metric):
//   #define MY_STATS(COUNTER, GAUGE, HISTOGRAM)
//     COUNTER(requests, "pilotfish_my_requests_total", "Requests seen")
//     GAUGE(active, "pilotfish_my_active", "Requests in flight")
//     HISTOGRAM(latency, "pilotfish_my_latency_seconds", "Request latency")
//   PILOTFISH_STATS_STRUCT(MyStats, MY_STATS);

#include <array>
#include <atomic>
#include <cstdint>

namespace pilotfish::stats {

/// Monotonic counter. Single writer (the owning worker); any thread may read.
class Counter {
 public:
  void inc(uint64_t n = 1) {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

/// Up/down value. Single writer; the merged value is the sum over workers.
class Gauge {
 public:
  void add(int64_t n) {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void inc() { add(1); }
  void dec() { add(-1); }
  void set(int64_t n) { v_.store(n, std::memory_order_relaxed); }
  int64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> v_{0};
};

/// Latency histogram with fixed buckets (upper bounds in microseconds), Prometheus-compatible
/// cumulative rendering in seconds. Single writer.
class Histogram {
 public:
  static constexpr std::array<uint64_t, 14> kBoundsUs = {100,    250,    500,     1000,   2500,
                                                         5000,   10000,  25000,   50000,  100000,
                                                         250000, 500000, 1000000, 5000000};
  /// Records one observation in microseconds.
  void record(uint64_t us) {
    std::size_t i = 0;
    while (i < kBoundsUs.size() && us > kBoundsUs[i]) ++i;
    buckets_[i].inc();  // last slot is +Inf
    sum_us_.inc(us);
  }
  uint64_t bucket(std::size_t i) const { return buckets_[i].value(); }  ///< non-cumulative
  uint64_t count() const {
    uint64_t n = 0;
    for (auto& b : buckets_) n += b.value();
    return n;
  }
  uint64_t sumUs() const { return sum_us_.value(); }

 private:
  std::array<Counter, kBoundsUs.size() + 1> buckets_;
  Counter sum_us_;
};

enum class MetricType { kCounter, kGauge, kHistogram };

}  // namespace pilotfish::stats

#define PILOTFISH_STATS_MEMBER_COUNTER(m, name, help) ::pilotfish::stats::Counter m;
#define PILOTFISH_STATS_MEMBER_GAUGE(m, name, help) ::pilotfish::stats::Gauge m;
#define PILOTFISH_STATS_MEMBER_HISTOGRAM(m, name, help) ::pilotfish::stats::Histogram m;
#define PILOTFISH_STATS_VISIT_COUNTER(m, name, help) v.counter(name, help, &Self::m);
#define PILOTFISH_STATS_VISIT_GAUGE(m, name, help) v.gauge(name, help, &Self::m);
#define PILOTFISH_STATS_VISIT_HISTOGRAM(m, name, help) v.histogram(name, help, &Self::m);

/// Defines `struct Name` with one member per metric and a static `visit(v)` that calls
/// v.counter/gauge/histogram(name, help, &Name::member) for each, in declaration order.
/// Aligned to a cache line so two workers' instances never share one.
#define PILOTFISH_STATS_STRUCT(Name, LIST)                             \
  struct alignas(64) Name {                                            \
    using Self = Name;                                                 \
    LIST(PILOTFISH_STATS_MEMBER_COUNTER, PILOTFISH_STATS_MEMBER_GAUGE, \
         PILOTFISH_STATS_MEMBER_HISTOGRAM)                             \
    template <class V>                                                 \
    static void visit(V& v) {                                          \
      LIST(PILOTFISH_STATS_VISIT_COUNTER, PILOTFISH_STATS_VISIT_GAUGE, \
           PILOTFISH_STATS_VISIT_HISTOGRAM)                            \
    }                                                                  \
  }
