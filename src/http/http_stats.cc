#include "pilotfish/http/http_stats.h"

namespace pilotfish::http {

std::string_view proxyErrorToken(ProxyError e) noexcept {
  switch (e) {
    case ProxyError::kNone: return "";
    case ProxyError::kNoRoute: return "no_route";
    case ProxyError::kMethodNotAllowed: return "method_not_allowed";
    case ProxyError::kRequestHeadersTimeout: return "request_headers_timeout";
    case ProxyError::kBodyTooLarge: return "body_too_large";
    case ProxyError::kLoopDetected: return "loop_detected";
    case ProxyError::kNoHealthyUpstream: return "no_healthy_upstream";
    case ProxyError::kConnectFailure: return "connect_failure";
    case ProxyError::kConnectTimeout: return "connect_timeout";
    case ProxyError::kUpstreamReset: return "upstream_reset";
    case ProxyError::kOverflow: return "overflow";
    case ProxyError::kUpstreamProtocolError: return "upstream_protocol_error";
    case ProxyError::kUpstreamTimeout: return "upstream_timeout";
    case ProxyError::kDownstreamReset: return "downstream_reset";
    case ProxyError::kDnsFailure: return "dns_failure";
    case ProxyError::kBadUpstreamHost: return "bad_upstream_host";
    case ProxyError::kRequestBodyTimeout: return "request_body_timeout";
    case ProxyError::kResponseSendTimeout: return "response_send_timeout";
    case ProxyError::kCount: break;
  }
  return "";
}

uint16_t proxyErrorStatus(ProxyError e) noexcept {
  switch (e) {
    case ProxyError::kNoRoute: return 404;
    case ProxyError::kBadUpstreamHost: return 400;
    case ProxyError::kDnsFailure: return 503;
    case ProxyError::kMethodNotAllowed: return 405;
    case ProxyError::kRequestHeadersTimeout:
    case ProxyError::kRequestBodyTimeout: return 408;
    case ProxyError::kBodyTooLarge: return 413;
    case ProxyError::kLoopDetected: return 508;
    case ProxyError::kNoHealthyUpstream:
    case ProxyError::kConnectFailure:
    case ProxyError::kConnectTimeout:
    case ProxyError::kUpstreamReset:
    case ProxyError::kOverflow: return 503;
    case ProxyError::kUpstreamProtocolError: return 502;
    case ProxyError::kUpstreamTimeout: return 504;
    default: return 0;
  }
}

std::string_view HttpErrorStats::token(std::size_t i) {
  constexpr std::size_t kProxy = static_cast<std::size_t>(ProxyError::kCount);
  if (i < kProxy) return proxyErrorToken(static_cast<ProxyError>(i));
  return h1ErrorToken(static_cast<H1Error>(i - kProxy));
}

}  // namespace pilotfish::http
