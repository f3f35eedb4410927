// Google Benchmark: pilotfish's HTTP/1 request parser vs Boost.Beast's http::request_parser and
// Debian's libhttp-parser 2.9 (nodejs/http-parser), on three realistic requests. Each iteration
// parses one complete request (head, and the body for the chunked POST) from one buffer, the way
// a proxy does after a read; "allocs/req" counts operator new calls per request.
// Build and run: bench/micro/run.sh

#include <benchmark/benchmark.h>
#include <http_parser.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/beast/core/buffers_prefix.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <cstdlib>
#include <new>
#include <string_view>

#include "h1_corpus.h"
#include "pilotfish/http/h1_body.h"
#include "pilotfish/http/h1_request_parser.h"

// ---- allocation counting (this binary only) -------------------------------------------------

static std::atomic<uint64_t> g_allocs{0};

void* operator new(std::size_t n) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace {

namespace http = boost::beast::http;
namespace ph = pilotfish::http;
using pilotfish::bench::kBrowser;
using pilotfish::bench::kChunkedPost;
using pilotfish::bench::kSmallGet;

template <class Fn>
void run(benchmark::State& state, const std::string& msg, Fn&& parse_one) {
  if (!parse_one(msg)) {
    state.SkipWithError("parse failed");
    return;
  }
  const uint64_t a0 = g_allocs.load(std::memory_order_relaxed);
  for (auto _ : state) {
    benchmark::DoNotOptimize(parse_one(msg));
  }
  const uint64_t allocs = g_allocs.load(std::memory_order_relaxed) - a0;
  state.counters["allocs/req"] =
      benchmark::Counter(static_cast<double>(allocs), benchmark::Counter::kAvgIterations);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * msg.size()));
  state.SetLabel(std::to_string(msg.size()) + " B");
}

// ---- pilotfish ----------------------------------------------------------------------------

struct Pilotfish {
  ph::H1RequestParser parser;
  ph::H1RequestHead head{100};
  ph::H1ChunkedDecoder chunked;

  bool operator()(const std::string& msg) {
    parser.reset();
    const ph::H1Result r = parser.parse(msg, head);
    if (!r.complete()) return false;
    if (head.body_kind != ph::H1BodyKind::kChunked) return true;
    chunked.reset();
    std::string_view in = std::string_view(msg).substr(r.consumed);
    std::size_t body = 0;
    while (!in.empty()) {
      const ph::H1DecodeResult d = chunked.decode(in);
      in.remove_prefix(d.consumed);
      body += d.data.size();
      if (d.failed()) return false;
      if (d.done) return body > 0;
    }
    return false;
  }
};

void BM_Pilotfish(benchmark::State& state, const std::string* msg) {
  Pilotfish p;
  run(state, *msg, p);
}

// The same request arriving in 64-byte reads: parse() is re-called with the longer buffer each
// time (the streaming path; total work stays linear).
struct PilotfishSegments {
  ph::H1RequestParser parser;
  ph::H1RequestHead head{100};

  bool operator()(const std::string& msg) {
    parser.reset();
    ph::H1Result r;
    for (std::size_t k = 64;; k += 64) {
      r = parser.parse(std::string_view(msg.data(), std::min(k, msg.size())), head);
      if (!r.needMore() || k >= msg.size()) break;
    }
    return r.complete();
  }
};

void BM_PilotfishSegments64(benchmark::State& state, const std::string* msg) {
  PilotfishSegments p;
  run(state, *msg, p);
}

// ---- Boost.Beast ------------------------------------------------------------------------------
// A request_parser cannot be reset: one is constructed per message (as Beast's examples do).
// Chunk data goes to an on_chunk_body callback, so no body storage is measured.

struct Beast {
  std::size_t body = 0;
  std::function<std::size_t(std::uint64_t, boost::string_view, boost::beast::error_code&)> cb =
      [this](std::uint64_t, boost::string_view data, boost::beast::error_code&) {
        body += data.size();
        return data.size();
      };

  bool operator()(const std::string& msg) {
    http::request_parser<http::empty_body> p;
    p.eager(true);
    p.on_chunk_body(cb);
    boost::beast::error_code ec;
    boost::asio::const_buffer buf(msg.data(), msg.size());
    while (!p.is_done()) {
      const std::size_t n = p.put(buf, ec);
      if (ec) return false;
      buf += n;
      if (n == 0) return false;
    }
    benchmark::DoNotOptimize(p.get()[http::field::host]);
    return true;
  }
};

void BM_Beast(benchmark::State& state, const std::string* msg) {
  Beast b;
  run(state, *msg, b);
}

// ---- libhttp-parser 2.9 ---------------------------------------------------------------------
// Callbacks record the same views pilotfish produces (URL, header names and values in a fixed
// array); Host and framing checks beyond the library's own are not added.

struct HpState {
  std::string_view url;
  std::array<ph::H1Field, 128> fields;
  std::size_t n = 0;
  bool in_value = false;
  std::size_t body = 0;
  bool complete = false;
};

int hpUrl(http_parser* p, const char* at, std::size_t len) {
  static_cast<HpState*>(p->data)->url = {at, len};
  return 0;
}
int hpField(http_parser* p, const char* at, std::size_t len) {
  auto* s = static_cast<HpState*>(p->data);
  if (s->in_value) {
    ++s->n;
    s->in_value = false;
  }
  if (s->n >= s->fields.size()) return 1;
  s->fields[s->n].name = {at, len};
  return 0;
}
int hpValue(http_parser* p, const char* at, std::size_t len) {
  auto* s = static_cast<HpState*>(p->data);
  s->fields[s->n].value = {at, len};
  s->in_value = true;
  return 0;
}
int hpHeadersComplete(http_parser* p) {
  auto* s = static_cast<HpState*>(p->data);
  if (s->in_value) ++s->n;
  return 0;
}
int hpBody(http_parser* p, const char*, std::size_t len) {
  static_cast<HpState*>(p->data)->body += len;
  return 0;
}
int hpComplete(http_parser* p) {
  static_cast<HpState*>(p->data)->complete = true;
  http_parser_pause(p, 1);  // stop at the end of this message (pipelining)
  return 0;
}

struct HttpParser {
  http_parser_settings settings{};
  HttpParser() {
    http_parser_settings_init(&settings);
    settings.on_url = hpUrl;
    settings.on_header_field = hpField;
    settings.on_header_value = hpValue;
    settings.on_headers_complete = hpHeadersComplete;
    settings.on_body = hpBody;
    settings.on_message_complete = hpComplete;
  }
  bool operator()(const std::string& msg) {
    HpState s;
    http_parser p;
    http_parser_init(&p, HTTP_REQUEST);
    p.data = &s;
    http_parser_execute(&p, &settings, msg.data(), msg.size());
    const auto err = HTTP_PARSER_ERRNO(&p);
    return s.complete && (err == HPE_OK || err == HPE_PAUSED) && s.n > 0;
  }
};

void BM_HttpParser(benchmark::State& state, const std::string* msg) {
  HttpParser h;
  run(state, *msg, h);
}

}  // namespace

BENCHMARK_CAPTURE(BM_Pilotfish, small_get_5h, &kSmallGet);
BENCHMARK_CAPTURE(BM_Beast, small_get_5h, &kSmallGet);
BENCHMARK_CAPTURE(BM_HttpParser, small_get_5h, &kSmallGet);
BENCHMARK_CAPTURE(BM_Pilotfish, browser_15h, &kBrowser);
BENCHMARK_CAPTURE(BM_Beast, browser_15h, &kBrowser);
BENCHMARK_CAPTURE(BM_HttpParser, browser_15h, &kBrowser);
BENCHMARK_CAPTURE(BM_PilotfishSegments64, browser_15h, &kBrowser);
BENCHMARK_CAPTURE(BM_Pilotfish, chunked_post, &kChunkedPost);
BENCHMARK_CAPTURE(BM_Beast, chunked_post, &kChunkedPost);
BENCHMARK_CAPTURE(BM_HttpParser, chunked_post, &kChunkedPost);

BENCHMARK_MAIN();
