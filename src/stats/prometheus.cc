#include "pilotfish/stats/prometheus.h"

#include <cmath>
#include <cstdio>

namespace pilotfish::stats {

void appendLabelValue(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

std::string formatSample(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  char buf[40];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.9g", v);
  }
  return buf;
}

namespace detail {

void writeHeader(std::string& out, std::string_view name, std::string_view help, MetricType t) {
  out += "# HELP ";
  out += name;
  out += ' ';
  for (char c : help) {  // HELP escaping: backslash and newline only
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  out += "\n# TYPE ";
  out += name;
  out += t == MetricType::kCounter ? " counter\n"
         : t == MetricType::kGauge ? " gauge\n"
                                   : " histogram\n";
}

void writeLabels(std::string& out, const std::vector<std::pair<std::string, std::string>>& labels,
                 std::string_view extra_key, std::string_view extra_value) {
  if (labels.empty() && extra_key.empty()) return;
  out += '{';
  bool first = true;
  auto one = [&](std::string_view k, std::string_view v) {
    if (!first) out += ',';
    first = false;
    out += k;
    out += "=\"";
    appendLabelValue(out, v);
    out += '"';
  };
  for (const auto& [k, v] : labels) one(k, v);
  if (!extra_key.empty()) one(extra_key, extra_value);
  out += '}';
}

void writeHistogram(std::string& out, std::string_view name,
                    const std::vector<std::pair<std::string, std::string>>& labels,
                    const std::vector<const Histogram*>& parts) {
  uint64_t cumulative = 0;
  uint64_t sum_us = 0;
  for (std::size_t i = 0; i <= Histogram::kBoundsUs.size(); ++i) {
    for (const Histogram* h : parts) cumulative += h->bucket(i);
    std::string le = i < Histogram::kBoundsUs.size()
                         ? formatSample(static_cast<double>(Histogram::kBoundsUs[i]) / 1e6)
                         : "+Inf";
    out += name;
    out += "_bucket";
    writeLabels(out, labels, "le", le);
    out += ' ';
    out += std::to_string(cumulative);
    out += '\n';
  }
  for (const Histogram* h : parts) sum_us += h->sumUs();
  out += name;
  out += "_sum";
  writeLabels(out, labels);
  out += ' ';
  out += formatSample(static_cast<double>(sum_us) / 1e6);
  out += '\n';
  out += name;
  out += "_count";
  writeLabels(out, labels);
  out += ' ';
  out += std::to_string(cumulative);
  out += '\n';
}

}  // namespace detail
}  // namespace pilotfish::stats
