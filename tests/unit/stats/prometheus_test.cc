#include "pilotfish/stats/prometheus.h"

#include <gtest/gtest.h>

#include <thread>

namespace pilotfish::stats {
namespace {

#define TEST_STATS(COUNTER, GAUGE, HISTOGRAM)             \
  COUNTER(requests, "pf_test_requests_total", "Requests") \
  GAUGE(active, "pf_test_active", "Active\nthings")       \
  HISTOGRAM(latency, "pf_test_latency_seconds", "Latency")
PILOTFISH_STATS_STRUCT(TestStats, TEST_STATS);

TEST(Stats, StructIsCacheLineAligned) {
  EXPECT_EQ(alignof(TestStats) % 64, 0u);
}

TEST(Prometheus, SumsWorkersPerSeries) {
  TestStats w0, w1, other;
  w0.requests.inc(3);
  w1.requests.inc(4);
  w0.active.inc();
  w1.active.inc();
  w1.active.dec();
  other.requests.inc();
  std::vector<Series<TestStats>> series = {{{{"listener", "a"}}, {&w0, &w1}},
                                           {{{"listener", "b\"x"}}, {&other}}};
  std::string out;
  render(out, series);
  EXPECT_NE(
      out.find("# HELP pf_test_requests_total Requests\n# TYPE pf_test_requests_total counter\n"),
      std::string::npos);
  EXPECT_NE(out.find("pf_test_requests_total{listener=\"a\"} 7\n"), std::string::npos);
  EXPECT_NE(out.find("pf_test_requests_total{listener=\"b\\\"x\"} 1\n"), std::string::npos);
  EXPECT_NE(out.find("pf_test_active{listener=\"a\"} 1\n"), std::string::npos);
  EXPECT_NE(out.find("# HELP pf_test_active Active\\nthings\n"), std::string::npos);
  // One HELP block per metric, not per series.
  EXPECT_EQ(out.find("# TYPE pf_test_requests_total"), out.rfind("# TYPE pf_test_requests_total"));
}

TEST(Prometheus, HistogramIsCumulativeInSeconds) {
  TestStats w0, w1;
  w0.latency.record(50);       // <= 100us
  w1.latency.record(700);      // <= 1ms
  w1.latency.record(9000000);  // +Inf
  std::vector<Series<TestStats>> series = {{{{"cluster", "c"}}, {&w0, &w1}}};
  std::string out;
  render(out, series);
  EXPECT_NE(out.find("pf_test_latency_seconds_bucket{cluster=\"c\",le=\"0.0001\"} 1\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("pf_test_latency_seconds_bucket{cluster=\"c\",le=\"0.001\"} 2\n"),
            std::string::npos);
  EXPECT_NE(out.find("pf_test_latency_seconds_bucket{cluster=\"c\",le=\"5\"} 2\n"),
            std::string::npos);
  EXPECT_NE(out.find("pf_test_latency_seconds_bucket{cluster=\"c\",le=\"+Inf\"} 3\n"),
            std::string::npos);
  EXPECT_NE(out.find("pf_test_latency_seconds_count{cluster=\"c\"} 3\n"), std::string::npos);
  EXPECT_NE(out.find("pf_test_latency_seconds_sum{cluster=\"c\"} 9.00075\n"), std::string::npos);
}

TEST(Prometheus, NoSeriesNoOutput) {
  std::string out;
  render(out, std::vector<Series<TestStats>>{});
  EXPECT_TRUE(out.empty());
}

// A writer thread per instance and a concurrent reader: the merged value is exact once writers
// finish (and TSan/ASan builds see no race, since values are relaxed atomics).
TEST(Stats, ConcurrentScrapeSeesExactTotals) {
  TestStats a, b;
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    while (!stop.load()) {
      std::string out;
      render(out, std::vector<Series<TestStats>>{{{}, {&a, &b}}});
    }
  });
  std::thread ta([&] {
    for (int i = 0; i < 100000; ++i) a.requests.inc();
  });
  std::thread tb([&] {
    for (int i = 0; i < 100000; ++i) b.requests.inc();
  });
  ta.join();
  tb.join();
  stop = true;
  reader.join();
  EXPECT_EQ(a.requests.value() + b.requests.value(), 200000u);
}

TEST(Prometheus, FormatSample) {
  EXPECT_EQ(formatSample(3), "3");
  EXPECT_EQ(formatSample(0.25), "0.25");
  EXPECT_EQ(formatSample(1.0 / 0.0), "+Inf");
}

}  // namespace
}  // namespace pilotfish::stats
