// libFuzzer target for the HTTP/1 codec (request/response head parsers, chunked decoder).
// Build and run: tests/fuzz/build.sh [run SECONDS]
//
// Beyond "no crash, no out-of-bounds read" (ASan; every buffer handed to the parsers is an
// exact-size heap copy, so one byte too far is caught), it checks properties and traps when one
// fails:
//   * the same bytes give the same result whole and split at fuzzer-chosen points, the buffer
//     moving on every call (head parsers) or arriving as separate slices (chunked decoder);
//   * a complete head's views lie inside the consumed bytes, names are tokens, values carry no
//     CR, LF or NUL, and framing is never ambiguous (chunked and Content-Length exclusive);
//   * decoded chunk data equals the concatenation whatever the slicing.
//
// Input layout: byte 0 picks the target and limits, byte 1 seeds the split points, the rest is
// the message.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "pilotfish/http/h1_body.h"
#include "pilotfish/http/h1_request_parser.h"
#include "pilotfish/http/h1_response_parser.h"

namespace ph = pilotfish::http;

namespace {

#define CHECK(cond)                \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

// An exact-size heap copy of data[0, n).
std::unique_ptr<char[]> copyOf(const uint8_t* data, std::size_t n) {
  std::unique_ptr<char[]> p(new char[n == 0 ? 1 : n]);
  if (n != 0) std::memcpy(p.get(), data, n);
  return p;
}

ph::H1Limits limitsFor(uint8_t sel) {
  ph::H1Limits l;
  switch ((sel >> 2) & 3) {
    case 0: break;  // defaults
    case 1:
      l.max_line_bytes = 64;
      l.max_head_bytes = 256;
      l.max_headers = 4;
      break;
    case 2:
      l.max_line_bytes = 16;
      l.max_head_bytes = 48;
      l.max_headers = 1;
      break;
    default:
      l.max_line_bytes = 300;
      l.max_head_bytes = 200;
      l.max_headers = 100;
      l.reject_underscore_in_names = true;
      break;
  }
  return l;
}

bool isTokenChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u <= 0x20 || u >= 0x7f) return false;
  return std::strchr("\"(),/:;<=>?@[\\]{}", c) == nullptr;
}

void checkFields(const ph::H1FieldList& fields, const char* base, std::size_t consumed) {
  for (const ph::H1Field& f : fields) {
    CHECK(!f.name.empty());
    CHECK(f.name.data() >= base && f.name.data() + f.name.size() <= base + consumed);
    CHECK(f.value.data() >= base && f.value.data() + f.value.size() <= base + consumed);
    for (char c : f.name) CHECK(isTokenChar(c));
    for (char c : f.value) CHECK(c != '\r' && c != '\n' && c != '\0');
    if (!f.value.empty()) {
      CHECK(f.value.front() != ' ' && f.value.front() != '\t');
      CHECK(f.value.back() != ' ' && f.value.back() != '\t');
    }
  }
}

// Cut points: 1-64 bytes apart, from the seed.
std::vector<std::size_t> cuts(std::size_t n, uint8_t seed) {
  std::vector<std::size_t> out;
  std::minstd_rand rng(seed + 1u);
  std::size_t k = 0;
  while (k < n) {
    k += seed == 0 ? 1 : 1 + rng() % 64;  // seed 0: byte at a time
    out.push_back(k < n ? k : n);
  }
  if (out.empty()) out.push_back(0);
  return out;
}

void fuzzRequest(const uint8_t* data, std::size_t n, uint8_t sel, uint8_t seed) {
  const ph::H1Limits limits = limitsFor(sel);
  auto whole_buf = copyOf(data, n);
  ph::H1RequestParser whole_parser(limits);
  ph::H1RequestHead whole;
  const ph::H1Result w = whole_parser.parse(std::string_view(whole_buf.get(), n), whole);

  if (w.complete()) {
    CHECK(w.consumed <= n);
    checkFields(whole.headers, whole_buf.get(), w.consumed);
    CHECK(!whole.method.empty());
    CHECK(!whole.target.empty());
    if (whole.body_kind == ph::H1BodyKind::kChunked) {
      CHECK(!whole.headers.get("content-length"));
      CHECK(whole.version == ph::H1Version::kHttp11);
    }
    if (whole.version == ph::H1Version::kHttp11) CHECK(whole.headers.count("host") == 1);
    CHECK(whole.headers.count("host") <= 1);
  } else if (w.failed()) {
    CHECK(w.status >= 400 && w.status <= 501);
    CHECK(!w.token.empty());
  }

  // Split: a new exact-size copy per call, so the buffer moves every time.
  ph::H1RequestParser parser(limits);
  ph::H1RequestHead head;
  ph::H1Result r;
  std::unique_ptr<char[]> buf;
  std::size_t last = 0;
  for (std::size_t k : cuts(n, seed)) {
    buf = copyOf(data, k);
    last = k;
    r = parser.parse(std::string_view(buf.get(), k), head);
    if (!r.needMore()) break;
  }
  CHECK(r.progress == w.progress);
  CHECK(r.error == w.error);
  CHECK(r.consumed == w.consumed);
  if (r.complete()) {
    checkFields(head.headers, buf.get(), r.consumed);
    CHECK(r.consumed <= last);
    CHECK(head.headers.size() == whole.headers.size());
    for (std::size_t i = 0; i < head.headers.size(); ++i) {
      CHECK(head.headers[i].name == whole.headers[i].name);
      CHECK(head.headers[i].value == whole.headers[i].value);
    }
    CHECK(head.method == whole.method && head.target == whole.target);
    CHECK(head.path == whole.path && head.authority == whole.authority);
    CHECK(head.body_kind == whole.body_kind && head.content_length == whole.content_length);
    CHECK(head.keep_alive == whole.keep_alive);
    CHECK(head.connection_options.size() == whole.connection_options.size());
    CHECK(head.upgrade_protocols.size() == whole.upgrade_protocols.size());
  }
}

void fuzzResponse(const uint8_t* data, std::size_t n, uint8_t sel, uint8_t seed) {
  const ph::H1Limits limits = limitsFor(sel);
  static constexpr ph::H1Method kMethods[] = {ph::H1Method::kGet, ph::H1Method::kHead,
                                              ph::H1Method::kConnect, ph::H1Method::kPost};
  const ph::H1Method method = kMethods[(sel >> 4) & 3];
  auto whole_buf = copyOf(data, n);
  ph::H1ResponseParser whole_parser(limits);
  ph::H1ResponseHead whole;
  const ph::H1Result w = whole_parser.parse(std::string_view(whole_buf.get(), n), method, whole);
  if (w.complete()) {
    CHECK(w.consumed <= n);
    checkFields(whole.headers, whole_buf.get(), w.consumed);
    CHECK(whole.status >= 100 && whole.status <= 999);
    if (whole.body_kind == ph::H1BodyKind::kUntilClose) CHECK(!whole.keep_alive);
  } else if (w.failed()) {
    CHECK(w.status == 502);
  }

  ph::H1ResponseParser parser(limits);
  ph::H1ResponseHead head;
  ph::H1Result r;
  std::unique_ptr<char[]> buf;
  for (std::size_t k : cuts(n, seed)) {
    buf = copyOf(data, k);
    r = parser.parse(std::string_view(buf.get(), k), method, head);
    if (!r.needMore()) break;
  }
  CHECK(r.progress == w.progress);
  CHECK(r.error == w.error);
  CHECK(r.consumed == w.consumed);
  if (r.complete()) {
    checkFields(head.headers, buf.get(), r.consumed);
    CHECK(head.status == whole.status && head.reason == whole.reason);
    CHECK(head.body_kind == whole.body_kind && head.keep_alive == whole.keep_alive);
    CHECK(head.headers.size() == whole.headers.size());
  }
}

struct ChunkedOutcome {
  std::string data;
  bool done = false;
  ph::H1Error error = ph::H1Error::kNone;
  std::size_t consumed = 0;
  std::vector<std::string> trailers;
};

ChunkedOutcome decodeChunked(const uint8_t* data, const std::vector<std::size_t>& at,
                             const ph::H1ChunkedLimits& limits) {
  ChunkedOutcome out;
  ph::H1ChunkedDecoder d(limits);
  std::size_t pos = 0;
  for (std::size_t end : at) {
    if (end <= pos) continue;
    auto slice = copyOf(data + pos, end - pos);
    std::string_view in(slice.get(), end - pos);
    while (!in.empty()) {
      const ph::H1DecodeResult r = d.decode(in);
      CHECK(r.consumed <= in.size());
      if (!r.data.empty()) {
        CHECK(r.data.data() >= in.data() && r.data.data() + r.data.size() <= in.data() + in.size());
      }
      out.data.append(r.data);
      in.remove_prefix(r.consumed);
      out.consumed += r.consumed;
      if (r.failed()) {
        out.error = r.error;
        CHECK(d.failed());
        return out;
      }
      if (r.done) {
        out.done = true;
        CHECK(d.done());
        for (const ph::H1Field& f : d.trailers()) {
          out.trailers.push_back(std::string(f.name) + ":" + std::string(f.value));
        }
        CHECK(d.decoded() == out.data.size());
        return out;
      }
      CHECK(r.consumed > 0);
    }
    pos = end;
  }
  CHECK(d.decoded() == out.data.size());
  return out;
}

void fuzzChunked(const uint8_t* data, std::size_t n, uint8_t sel, uint8_t seed) {
  ph::H1ChunkedLimits limits;
  if (sel & 4) {
    limits.max_line_bytes = 12;
    limits.max_trailer_bytes = 40;
    limits.max_trailers = 2;
  }
  const ChunkedOutcome whole = decodeChunked(data, {n}, limits);
  const ChunkedOutcome split = decodeChunked(data, cuts(n, seed), limits);
  CHECK(whole.done == split.done);
  CHECK(whole.error == split.error);
  if (whole.error == ph::H1Error::kNone) {
    CHECK(whole.data == split.data);
    CHECK(whole.consumed == split.consumed);
    CHECK(whole.trailers == split.trailers);
  } else {
    // Data decoded before the error is a prefix of the same stream.
    const std::size_t m = std::min(whole.data.size(), split.data.size());
    CHECK(whole.data.compare(0, m, split.data, 0, m) == 0);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const uint8_t sel = data[0];
  const uint8_t seed = data[1];
  data += 2;
  size -= 2;
  switch (sel % 3) {
    case 0: fuzzRequest(data, size, sel, seed); break;
    case 1: fuzzResponse(data, size, sel, seed); break;
    default: fuzzChunked(data, size, sel, seed); break;
  }
  return 0;
}
