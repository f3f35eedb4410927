#pragma once
// Per-worker statistics of one http listener (label `listener`), and the reasons a request got
// a proxy-made response (label `token`). See docs/metrics.md.

#include <array>
#include <cstdint>
#include <string_view>

#include "pilotfish/http/h1_types.h"
#include "pilotfish/stats/stats.h"

namespace pilotfish::http {

#define PILOTFISH_HTTP_STATS(COUNTER, GAUGE, HISTOGRAM)                                        \
  COUNTER(requests, "pilotfish_http_requests_total", "Requests whose head was received")       \
  GAUGE(active, "pilotfish_http_requests_active", "Requests in flight")                        \
  COUNTER(responses_1xx, "pilotfish_http_responses_1xx_total", "Final responses 100-199 sent") \
  COUNTER(responses_2xx, "pilotfish_http_responses_2xx_total", "Responses 200-299 sent")       \
  COUNTER(responses_3xx, "pilotfish_http_responses_3xx_total", "Responses 300-399 sent")       \
  COUNTER(responses_4xx, "pilotfish_http_responses_4xx_total", "Responses 400-499 sent")       \
  COUNTER(responses_5xx, "pilotfish_http_responses_5xx_total", "Responses 500-599 sent")       \
  COUNTER(local_responses, "pilotfish_http_local_responses_total",                             \
          "Responses made by pilotfish itself (see pilotfish_http_errors_total)")              \
  COUNTER(retries, "pilotfish_http_retries_total", "Requests sent again to an upstream")       \
  COUNTER(underscore_fields_dropped, "pilotfish_http_underscore_headers_dropped_total",        \
          "Request header fields left out for headers_with_underscores: drop")                 \
  COUNTER(aborted, "pilotfish_http_responses_aborted_total",                                   \
          "Responses cut off after their head was sent (client connection reset)")             \
  HISTOGRAM(duration, "pilotfish_http_request_duration_seconds",                               \
            "From the request head received to the last response byte sent")                   \
  HISTOGRAM(upstream_time, "pilotfish_http_upstream_response_time_seconds",                    \
            "From the request sent upstream to the response head received")

PILOTFISH_STATS_STRUCT(HttpStats, PILOTFISH_HTTP_STATS);

/// Why pilotfish answered a request itself. Tokens are sent in `x-pilotfish-error`, written to
/// the access log `error` field and counted in pilotfish_http_errors_total{token}.
enum class ProxyError : uint8_t {
  kNone = 0,
  kNoRoute,                ///< 404: no route matched
  kMethodNotAllowed,       ///< 405: CONNECT
  kRequestHeadersTimeout,  ///< 408: request_headers_timeout
  kBodyTooLarge,           ///< 413: max_request_body
  kLoopDetected,           ///< 508: max_hops exceeded or an endpoint is our own listener
  kNoHealthyUpstream,      ///< 503: the cluster has no endpoint that may take traffic
  kConnectFailure,         ///< 503: every endpoint refused (or failed) the connection
  kConnectTimeout,         ///< 503: connect_timeout
  kUpstreamReset,          ///< 503: upstream closed or reset before the response head
  kOverflow,               ///< 503: over a limit (max_connections)
  kUpstreamProtocolError,  ///< 502: malformed response
  kUpstreamTimeout,        ///< 504: route timeout / per_try_timeout
  kDownstreamReset,        ///< (log only) client went away mid-request
  kDnsFailure,             ///< 503: a dynamic_host name did not resolve
  kBadUpstreamHost,        ///< 400: the request's host is not a valid upstream name
  kRequestBodyTimeout,     ///< 408: request_body_timeout (the client stopped sending its body)
  kResponseSendTimeout,    ///< (reset) response_send_timeout: the client stopped reading
  kCount
};

/// The token of a proxy error ("connect_failure", ...).
std::string_view proxyErrorToken(ProxyError e) noexcept;
/// The status pilotfish answers with for `e` (0 for kNone and log-only values).
uint16_t proxyErrorStatus(ProxyError e) noexcept;

#define PILOTFISH_HTTP_ERROR_STATS(COUNTER, GAUGE, HISTOGRAM) \
  COUNTER(count, "pilotfish_http_errors_total",               \
          "Requests answered or ended by pilotfish itself, by token")

PILOTFISH_STATS_STRUCT(HttpErrorCounter, PILOTFISH_HTTP_ERROR_STATS);

/// One counter per token: proxy errors first, then every H1Error (malformed requests).
struct HttpErrorStats {
  static constexpr std::size_t kSlots =
      static_cast<std::size_t>(ProxyError::kCount) + static_cast<std::size_t>(H1Error::kCount);
  std::array<HttpErrorCounter, kSlots> slots;

  void count(ProxyError e) { slots[static_cast<std::size_t>(e)].count.inc(); }
  void count(H1Error e) {
    slots[static_cast<std::size_t>(ProxyError::kCount) + static_cast<std::size_t>(e)].count.inc();
  }
  /// The token of slot `i` ("" for the unused kNone slots).
  static std::string_view token(std::size_t i);
};

}  // namespace pilotfish::http
