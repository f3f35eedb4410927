#pragma once
// Prometheus text exposition (format 0.0.4) of merged per-worker stats.
// Used by the admin /metrics handler on the control thread.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pilotfish/stats/stats.h"

namespace pilotfish::stats {

/// Appends label-value escaping (\\, \", \n) of `v` to `out`.
void appendLabelValue(std::string& out, std::string_view v);
/// Formats a double the way Prometheus expects ("+Inf", integers without exponent).
std::string formatSample(double v);

/// One labelled instance of a stats struct across workers: label pairs plus one pointer per
/// worker. The pointed-to structs must outlive the render call.
template <class S>
struct Series {
  std::vector<std::pair<std::string, std::string>> labels;
  std::vector<const S*> per_worker;
};

namespace detail {
void writeHeader(std::string& out, std::string_view name, std::string_view help, MetricType t);
void writeLabels(std::string& out, const std::vector<std::pair<std::string, std::string>>& labels,
                 std::string_view extra_key = {}, std::string_view extra_value = {});
void writeHistogram(std::string& out, std::string_view name,
                    const std::vector<std::pair<std::string, std::string>>& labels,
                    const std::vector<const Histogram*>& parts);

template <class S>
struct RenderVisitor {
  std::string& out;
  const std::vector<Series<S>>& series;

  template <class M>
  void scalar(std::string_view name, std::string_view help, MetricType t, M S::*member) {
    writeHeader(out, name, help, t);
    for (const auto& s : series) {
      long double sum = 0;
      for (const S* w : s.per_worker) sum += static_cast<long double>((w->*member).value());
      out += name;
      writeLabels(out, s.labels);
      out += ' ';
      out += formatSample(static_cast<double>(sum));
      out += '\n';
    }
  }
  void counter(std::string_view name, std::string_view help, Counter S::*m) {
    scalar(name, help, MetricType::kCounter, m);
  }
  void gauge(std::string_view name, std::string_view help, Gauge S::*m) {
    scalar(name, help, MetricType::kGauge, m);
  }
  void histogram(std::string_view name, std::string_view help, Histogram S::*m) {
    writeHeader(out, name, help, MetricType::kHistogram);
    for (const auto& s : series) {
      std::vector<const Histogram*> parts;
      parts.reserve(s.per_worker.size());
      for (const S* w : s.per_worker) parts.push_back(&(w->*m));
      writeHistogram(out, name, s.labels, parts);
    }
  }
};
}  // namespace detail

/// Renders every metric of S for every series: one HELP/TYPE block per metric, then one sample
/// line per series with the sum over workers.
template <class S>
void render(std::string& out, const std::vector<Series<S>>& series) {
  if (series.empty()) return;
  detail::RenderVisitor<S> v{out, series};
  S::visit(v);
}

}  // namespace pilotfish::stats
