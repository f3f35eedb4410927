#include "pilotfish/http/h1_forward.h"

#include <gtest/gtest.h>

#include "pilotfish/http/h1_request_parser.h"
#include "pilotfish/http/h1_response_parser.h"
#include "pilotfish/tracing/propagation.h"

namespace pilotfish::http {
namespace {

// Parses `raw` (a complete request head) and writes the upstream head for it.
std::string upstreamHead(const std::string& raw, UpstreamRequest r = {},
                         const tracing::PropagationResult* tracing = nullptr) {
  H1RequestParser parser;
  H1RequestHead head;
  H1Result res = parser.parse(raw, head);
  EXPECT_TRUE(res.complete()) << h1ErrorToken(res.error);
  r.head = &head;
  if (r.target.empty()) r.target = head.path;
  if (r.host.empty()) r.host = head.authority;
  if (r.client_address.empty()) r.client_address = "10.0.0.7";
  r.tracing = tracing;
  std::string out;
  writeUpstreamRequestHead(r, out);
  return out;
}

TEST(H1Forward, RemovesHopByHopAndConnectionNamedFields) {
  std::string out = upstreamHead(
      "GET /a?b=1 HTTP/1.1\r\nHost: svc\r\nConnection: keep-alive, x-secret\r\n"
      "Keep-Alive: timeout=5\r\nX-Secret: 1\r\nTE: trailers\r\nProxy-Connection: x\r\n"
      "Upgrade: h2c\r\nAccept: */*\r\n\r\n");
  EXPECT_EQ(out,
            "GET /a?b=1 HTTP/1.1\r\nhost: svc\r\nAccept: */*\r\n"
            "x-forwarded-for: 10.0.0.7\r\nx-forwarded-proto: http\r\nx-pilotfish-hops: 1\r\n\r\n");
}

TEST(H1Forward, UnderscoreNamesAreLeftOutOnlyWhenAsked) {
  const std::string raw =
      "GET / HTTP/1.1\r\nHost: svc\r\nX_Forwarded_For: 6.6.6.6\r\nx-ok: 1\r\n_: 2\r\n\r\n";
  EXPECT_EQ(upstreamHead(raw, {.drop_underscore_names = true}),
            "GET / HTTP/1.1\r\nhost: svc\r\nx-ok: 1\r\n"
            "x-forwarded-for: 10.0.0.7\r\nx-forwarded-proto: http\r\nx-pilotfish-hops: 1\r\n\r\n");
  const std::string kept = upstreamHead(raw);
  EXPECT_NE(kept.find("X_Forwarded_For: 6.6.6.6\r\n"), std::string::npos) << kept;
  EXPECT_NE(kept.find("_: 2\r\n"), std::string::npos) << kept;
}

TEST(H1Forward, AppendsToEveryForwardedForLineAndReplacesProtoAndHops) {
  std::string out = upstreamHead(
      "GET / HTTP/1.1\r\nHost: svc\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2, "
      "3.3.3.3\r\nX-Forwarded-Proto: https\r\nx-pilotfish-hops: 3\r\n\r\n",
      UpstreamRequest{.hops = 4});
  EXPECT_NE(out.find("x-forwarded-for: 1.1.1.1, 2.2.2.2, 3.3.3.3, 10.0.0.7\r\n"), std::string::npos)
      << out;
  EXPECT_NE(out.find("x-forwarded-proto: http\r\n"), std::string::npos);
  EXPECT_EQ(out.find("https"), std::string::npos) << "client's X-Forwarded-Proto is replaced";
  EXPECT_NE(out.find("x-pilotfish-hops: 4\r\n"), std::string::npos);
  EXPECT_EQ(out.find("hops: 3"), std::string::npos);
}

TEST(H1Forward, FramingIsRewrittenCanonically) {
  std::string cl = upstreamHead("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n");
  EXPECT_NE(cl.find("content-length: 7\r\n"), std::string::npos) << cl;
  EXPECT_EQ(cl.find("007"), std::string::npos);
  std::string te =
      upstreamHead("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
  EXPECT_NE(te.find("transfer-encoding: gzip, chunked\r\n"), std::string::npos) << te;
}

TEST(H1Forward, HostRewriteAndTarget) {
  std::string out = upstreamHead("GET http://outer:8080/x HTTP/1.1\r\nHost: ignored\r\n\r\n",
                                 UpstreamRequest{.target = "/new/x", .host = "inner.svc"});
  EXPECT_EQ(out.rfind("GET /new/x HTTP/1.1\r\nhost: inner.svc\r\n", 0), 0u) << out;
  EXPECT_EQ(out.find("ignored"), std::string::npos) << "the client's Host is not forwarded twice";
}

TEST(H1Forward, WebsocketUpgradeIsKeptOnlyWhenAsked) {
  const std::string raw =
      "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
  std::string ws = upstreamHead(raw, UpstreamRequest{.websocket = true});
  EXPECT_NE(ws.find("connection: upgrade\r\nupgrade: websocket\r\n"), std::string::npos) << ws;
  EXPECT_NE(ws.find("Sec-WebSocket-Key"), std::string::npos);
  std::string plain = upstreamHead(raw);
  EXPECT_EQ(plain.find("pgrade"), std::string::npos) << plain;
}

TEST(H1Forward, TracingFieldsReplaceIncomingOnes) {
  const std::string raw =
      "GET / HTTP/1.1\r\nHost: a\r\nX-B3-TraceId: zzz\r\ntraceparent: garbage\r\n\r\n";
  H1RequestParser parser;
  H1RequestHead head;
  ASSERT_TRUE(parser.parse(raw, head).complete());
  tracing::IncomingTraceHeaders in;
  for (const auto& f : head.headers) in.offer(f.name, f.value);
  tracing::IdGenerator ids(42);
  tracing::PropagationResult prop;
  tracing::decidePropagation(tracing::TracingSettings{}, in, ids, prop);
  std::string out = upstreamHead(raw, {}, &prop);
  EXPECT_EQ(out.find("zzz"), std::string::npos) << out;
  EXPECT_EQ(out.find("garbage"), std::string::npos) << out;
  EXPECT_NE(out.find("x-b3-traceid: " + std::string(prop.traceId())), std::string::npos) << out;
  EXPECT_NE(out.find("traceparent: 00-" + std::string(prop.traceId())), std::string::npos);
  EXPECT_NE(out.find("x-request-id: " + std::string(prop.requestId())), std::string::npos);
}

TEST(H1Forward, IncomingHops) {
  auto hops = [](const std::string& fields) {
    H1RequestParser parser;
    H1RequestHead head;
    std::string raw = "GET / HTTP/1.1\r\nHost: a\r\n" + fields + "\r\n";
    EXPECT_TRUE(parser.parse(raw, head).complete());
    return incomingHops(head.headers);
  };
  EXPECT_EQ(hops(""), 0u);
  EXPECT_EQ(hops("X-Pilotfish-Hops: 7\r\n"), 7u);
  EXPECT_EQ(hops("x-pilotfish-hops: -1\r\n"), UINT32_MAX);
  EXPECT_EQ(hops("x-pilotfish-hops: 1\r\nx-pilotfish-hops: 1\r\n"), UINT32_MAX);
  EXPECT_EQ(hops("x-pilotfish-hops: 99999\r\n"), UINT32_MAX);
}

std::string downstreamHead(const std::string& raw, DownstreamResponse r,
                           H1Method method = H1Method::kGet) {
  H1ResponseParser parser;
  H1ResponseHead head;
  EXPECT_TRUE(parser.parse(raw, method, head).complete());
  r.head = &head;
  std::string out;
  writeDownstreamResponseHead(r, out);
  return out;
}

TEST(H1Forward, ResponseHeadDropsHopByHopAndAddsRequestId) {
  std::string out = downstreamHead(
      "HTTP/1.1 200 OK\r\nConnection: x-drop\r\nX-Drop: 1\r\nKeep-Alive: timeout=4\r\n"
      "X-Request-Id: theirs\r\nContent-Length: 2\r\n\r\n",
      DownstreamResponse{.body = H1BodyKind::kContentLength, .request_id = "ours"});
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nx-request-id: ours\r\n\r\n");
}

TEST(H1Forward, ResponseForHttp10ClientIsCloseDelimited) {
  std::string out =
      downstreamHead("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                     DownstreamResponse{.body = H1BodyKind::kUntilClose, .close = true});
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n");
}

TEST(H1Forward, SwitchingProtocolsKeepsUpgrade) {
  std::string out = downstreamHead(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: x\r\n\r\n",
      DownstreamResponse{.tunnel = true});
  EXPECT_EQ(out,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: x\r\n"
            "connection: upgrade\r\n\r\n");
}

TEST(H1Forward, LocalResponse) {
  std::string out;
  writeLocalResponse(out, 503, "connect_failure", "rid", true, false);
  EXPECT_EQ(out,
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\n"
            "content-length: 37\r\nx-pilotfish-error: connect_failure\r\nx-request-id: rid\r\n"
            "connection: close\r\n\r\nService Unavailable: connect_failure\n");
  std::string head;
  writeLocalResponse(head, 404, "no_route", "", false, true);
  EXPECT_EQ(head,
            "HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\ncontent-length: 20\r\n"
            "x-pilotfish-error: no_route\r\n\r\n");
}

TEST(H1Forward, Chunks) {
  std::string out;
  appendChunk(out, "");
  appendChunk(out, std::string(26, 'x'));
  appendLastChunk(out);
  EXPECT_EQ(out, "1a\r\n" + std::string(26, 'x') + "\r\n0\r\n\r\n");
}

}  // namespace
}  // namespace pilotfish::http
