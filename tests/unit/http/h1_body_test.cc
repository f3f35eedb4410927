#include "pilotfish/http/h1_body.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace pilotfish::http {
namespace {

using namespace std::string_literals;

struct Decoded {
  std::string data;
  bool done = false;
  H1Error error = H1Error::kNone;
  std::size_t consumed = 0;  // input bytes used up to done/error
  std::vector<std::pair<std::string, std::string>> trailers;
};

// Feeds `wire` in slices whose sizes come from `next_size` (each slice a separate buffer, so
// returned views must point into the slice just given).
template <class NextSize>
Decoded decodeIn(const std::string& wire, NextSize next_size, const H1ChunkedLimits& limits = {}) {
  Decoded out;
  H1ChunkedDecoder d(limits);
  std::size_t pos = 0;
  while (pos < wire.size() && !out.done && out.error == H1Error::kNone) {
    const std::size_t len = std::min(wire.size() - pos, next_size());
    const std::string slice = wire.substr(pos, len);
    std::string_view in = slice;
    while (!in.empty()) {
      const H1DecodeResult r = d.decode(in);
      EXPECT_LE(r.consumed, in.size());
      if (!r.data.empty()) {
        EXPECT_GE(r.data.data(), in.data());
        EXPECT_LE(r.data.data() + r.data.size(), in.data() + in.size());
      }
      out.data.append(r.data);
      in.remove_prefix(r.consumed);
      out.consumed += r.consumed;
      if (r.failed()) {
        out.error = r.error;
        break;
      }
      if (r.done) {
        out.done = true;
        break;
      }
      if (r.consumed == 0) {
        ADD_FAILURE() << "no progress";
        break;
      }
    }
    pos += len;
  }
  for (const H1Field& f : d.trailers()) out.trailers.emplace_back(f.name, f.value);
  EXPECT_EQ(out.done, d.done());
  EXPECT_EQ(out.error != H1Error::kNone, d.failed());
  return out;
}

Decoded decodeWhole(const std::string& wire, const H1ChunkedLimits& limits = {}) {
  return decodeIn(
      wire, [&] { return wire.size() + 1; }, limits);
}

Decoded decodeBytes(const std::string& wire, const H1ChunkedLimits& limits = {}) {
  return decodeIn(
      wire, [] { return std::size_t{1}; }, limits);
}

void expectSame(const Decoded& a, const Decoded& b) {
  EXPECT_EQ(a.data, b.data);
  EXPECT_EQ(a.done, b.done);
  EXPECT_EQ(a.error, b.error);
  if (a.error == H1Error::kNone) {  // after an error the connection closes: count unspecified
    EXPECT_EQ(a.consumed, b.consumed);
    EXPECT_EQ(a.trailers, b.trailers);
  }
}

void expectError(const std::string& wire, H1Error error) {
  const Decoded d = decodeWhole(wire);
  EXPECT_EQ(d.error, error) << ::testing::PrintToString(wire) << " got " << h1ErrorToken(d.error);
  EXPECT_FALSE(d.done);
  expectSame(d, decodeBytes(wire));
}

TEST(H1ChunkedDecoder, Basic) {
  const std::string wire = "5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n";
  const Decoded d = decodeWhole(wire + "NEXT");
  EXPECT_TRUE(d.done);
  EXPECT_EQ(d.data, "hello, world");
  EXPECT_EQ(d.consumed, wire.size());  // "NEXT" belongs to the next message
  EXPECT_TRUE(d.trailers.empty());
}

TEST(H1ChunkedDecoder, DataIsZeroCopy) {
  const std::string wire = "5\r\nhello\r\n0\r\n\r\n";
  H1ChunkedDecoder d;
  const H1DecodeResult r = d.decode(wire);
  EXPECT_EQ(r.data, "hello");
  EXPECT_EQ(r.data.data(), wire.data() + 3);
  EXPECT_EQ(r.consumed, 8u);
}

TEST(H1ChunkedDecoder, OnlyLastChunk) {
  const Decoded d = decodeWhole("0\r\n\r\n");
  EXPECT_TRUE(d.done);
  EXPECT_EQ(d.data, "");
}

TEST(H1ChunkedDecoder, HexForms) {
  const Decoded d = decodeWhole("A\r\n0123456789\r\n000b\r\nabcdefghijk\r\nf\r\n" +
                                std::string(15, 'x') + "\r\n0000\r\n\r\n");
  EXPECT_TRUE(d.done);
  EXPECT_EQ(d.data.size(), 10u + 11u + 15u);
}

TEST(H1ChunkedDecoder, Extensions) {
  for (const char* ext :
       {";a", ";a=b", ";a=b;c", ";a=\"quoted value\"", ";a=\"esc\\\"aped\"", " ;a", " ; a = b ;c",
        "\t;a=\"\"", ";a=\"tab\tin\"", ";a=b ;c=d", ";name=\"\xc3\xa9\""}) {
    const Decoded d = decodeWhole("3"s + ext + "\r\nabc\r\n0" + ext + "\r\n\r\n");
    EXPECT_TRUE(d.done) << ext << " " << h1ErrorToken(d.error);
    EXPECT_EQ(d.data, "abc") << ext;
  }
}

TEST(H1ChunkedDecoder, Trailers) {
  const std::string wire =
      "3\r\nabc\r\n0\r\nX-Checksum: 123 \r\nTransfer-Encoding: chunked\r\n\r\n";
  const Decoded d = decodeWhole(wire);
  ASSERT_TRUE(d.done);
  EXPECT_EQ(d.consumed, wire.size());
  // Kept apart (never merged into the head), including ones that would change framing.
  EXPECT_EQ(d.trailers, (std::vector<std::pair<std::string, std::string>>{
                            {"X-Checksum", "123"}, {"Transfer-Encoding", "chunked"}}));
  expectSame(d, decodeBytes(wire));
}

TEST(H1ChunkedDecoder, MaxChunkSize) {
  // 2^62 is accepted (the data just never arrives here); 2^62 + 1 is not.
  H1ChunkedDecoder ok;
  const H1DecodeResult r = ok.decode("4000000000000000\r\nab");
  EXPECT_FALSE(r.failed());
  expectError("4000000000000001\r\n", H1Error::kBadChunkSize);
  expectError("10000000000000000\r\n", H1Error::kBadChunkSize);
  expectError("ffffffffffffffffffff\r\n", H1Error::kBadChunkSize);
}

TEST(H1ChunkedDecoder, BadSizes) {  // must-survive #5
  expectError("g\r\nabc\r\n0\r\n\r\n", H1Error::kBadChunkSize);
  expectError("\r\n", H1Error::kBadChunkSize);
  expectError("-1\r\n", H1Error::kBadChunkSize);
  expectError("+1\r\na\r\n", H1Error::kBadChunkSize);
  expectError("0x5\r\n", H1Error::kBadChunkSize);
  expectError(" 5\r\nhello\r\n", H1Error::kBadChunkSize);
  expectError("5\x00\r\nhello\r\n"s, H1Error::kBadChunkSize);
}

TEST(H1ChunkedDecoder, BadExtensions) {  // must-survive #5
  for (const std::string& ext :
       {";"s, ";=b"s, ";a="s, ";a=b\x01"s, ";a=\"\x01\""s, ";a=\"x"s, ";a=\"\x7f\""s, ";a\x00"s,
        " "s, "\t"s, ";a "s, ";a=b "s, ";a=\"b\"c"s, ";a=b=c"s, ";a b"s, "; "s, ";a,b"s,
        ";a=\"\\\x01\""s}) {
    expectError("5" + ext + "\r\nhello\r\n0\r\n\r\n", H1Error::kBadChunkExtension);
  }
}

TEST(H1ChunkedDecoder, BadLineEndings) {  // must-survive #5
  expectError("5\nhello\r\n0\r\n\r\n", H1Error::kBadChunkFraming);
  expectError("5\r\rhello\r\n0\r\n\r\n", H1Error::kBadChunkFraming);
  expectError("5\r\nhello\n0\r\n\r\n", H1Error::kBadChunkFraming);
  expectError("5\r\nhelloX\r\n0\r\n\r\n", H1Error::kBadChunkFraming);
  expectError("5\r\nhello\rX0\r\n\r\n", H1Error::kBadChunkFraming);
  expectError("5;a=b\nhello\r\n", H1Error::kBadChunkFraming);
  expectError("5;a=\"b\n\"\r\nhello\r\n", H1Error::kBadChunkFraming);
  expectError("\n", H1Error::kBadChunkFraming);
  expectError("0\r\n\n", H1Error::kBadTrailer);
  expectError("0\r\n\r\r\n", H1Error::kBadTrailer);
}

TEST(H1ChunkedDecoder, BadTrailers) {  // must-survive #5: header smuggling via trailers
  expectError("0\r\nX: a\nY: b\r\n\r\n", H1Error::kBadTrailer);
  expectError("0\r\nX: a\rY: b\r\n\r\n", H1Error::kBadTrailer);
  expectError("0\r\nX: a\r\n b\r\n\r\n", H1Error::kBadTrailer);
  expectError("0\r\nX : a\r\n\r\n", H1Error::kBadTrailer);
  expectError("0\r\n: a\r\n\r\n", H1Error::kBadTrailer);
  expectError("0\r\nX: a\x00\r\n\r\n"s, H1Error::kBadTrailer);
  expectError("0\r\nNoColon\r\n\r\n", H1Error::kBadTrailer);
}

TEST(H1ChunkedDecoder, Limits) {
  H1ChunkedLimits limits;
  limits.max_line_bytes = 16;
  limits.max_trailer_bytes = 32;
  limits.max_trailers = 2;
  EXPECT_EQ(decodeWhole("5;aaaaaaaaaa\r\nhello\r\n0\r\n\r\n", limits).error, H1Error::kNone);
  EXPECT_EQ(decodeWhole("5;aaaaaaaaaaaaaa\r\nhello\r\n0\r\n\r\n", limits).error,
            H1Error::kChunkLineTooLong);
  EXPECT_EQ(decodeWhole(std::string(20, '0') + "5\r\nhello\r\n", limits).error,
            H1Error::kChunkLineTooLong);
  EXPECT_EQ(decodeWhole("0\r\nX: " + std::string(40, 'v') + "\r\n\r\n", limits).error,
            H1Error::kTrailersTooLarge);
  EXPECT_EQ(decodeWhole("0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", limits).error,
            H1Error::kTrailersTooLarge);
  EXPECT_TRUE(decodeWhole("0\r\nA: 1\r\nB: 2\r\n\r\n", limits).done);
  // Default limits: a huge size line of leading zeros is bounded.
  EXPECT_EQ(decodeWhole(std::string(10000, '0') + "1\r\n").error, H1Error::kChunkLineTooLong);
}

TEST(H1ChunkedDecoder, StickyErrorAndDone) {
  H1ChunkedDecoder d;
  EXPECT_EQ(d.decode("z").error, H1Error::kBadChunkSize);
  const H1DecodeResult again = d.decode("0\r\n\r\n");
  EXPECT_EQ(again.error, H1Error::kBadChunkSize);
  EXPECT_EQ(again.consumed, 0u);

  H1ChunkedDecoder done;
  EXPECT_TRUE(done.decode("0\r\n\r\n").done);
  const H1DecodeResult after = done.decode("GET /");
  EXPECT_TRUE(after.done);
  EXPECT_EQ(after.consumed, 0u);
  done.reset();
  EXPECT_FALSE(done.done());
  EXPECT_EQ(done.decoded(), 0u);
}

TEST(H1ChunkedDecoder, DecodedCountsForBodyLimit) {  // must-survive #11 (caller enforces)
  H1ChunkedDecoder d;
  std::string_view in = "4\r\nabcd\r\n4\r\nefgh\r\n";
  while (!in.empty()) {
    const H1DecodeResult r = d.decode(in);
    in.remove_prefix(r.consumed);
  }
  EXPECT_EQ(d.decoded(), 8u);
  EXPECT_FALSE(d.done());
}

TEST(H1ChunkedDecoder, ReusedAcrossMessages) {
  H1ChunkedDecoder d;
  for (int i = 0; i < 3; ++i) {
    d.reset();
    std::string_view in = "2\r\nab\r\n0\r\nT: 1\r\n\r\n";
    std::string data;
    bool done = false;
    while (!in.empty() && !done) {
      const H1DecodeResult r = d.decode(in);
      in.remove_prefix(r.consumed);
      data.append(r.data);
      done = r.done;
    }
    EXPECT_TRUE(done);
    EXPECT_EQ(data, "ab");
    ASSERT_EQ(d.trailers().size(), 1u);
    EXPECT_EQ(d.trailers()[0].value, "1");
  }
}

// Every split point, and random slicings, give the same result as one whole buffer.
TEST(H1ChunkedDecoder, SplitAtEveryByteEqualsWhole) {
  const std::vector<std::string> corpus = {
      "5\r\nhello\r\n0\r\n\r\n",
      "1;a=b\r\nx\r\n10\r\n0123456789abcdef\r\n0;last\r\nT1: v\r\nT2:  w \r\n\r\n",
      "3;q=\"a\\\"b;c\"\r\nabc\r\n0\r\n\r\n",
      "5\r\nhello\n0\r\n\r\n",
      "5\r\nhel",
      "0\r\nX: a\r\n b\r\n\r\n",
      "4000000000000001\r\n",
      "2\r\nab\r\n0\r\n\r\nNEXT",
      "5;a=\x01\r\n",
      "0\r\nX: " + std::string(100, 'v') + "\r\n\r\n",
  };
  H1ChunkedLimits small;
  small.max_line_bytes = 8;
  small.max_trailer_bytes = 24;
  small.max_trailers = 1;
  std::mt19937 rng(99);
  for (const H1ChunkedLimits& limits : {H1ChunkedLimits{}, small}) {
    for (const std::string& wire : corpus) {
      SCOPED_TRACE(::testing::PrintToString(wire));
      const Decoded whole = decodeWhole(wire, limits);
      expectSame(whole, decodeBytes(wire, limits));
      for (std::size_t cut = 1; cut < wire.size(); ++cut) {
        bool first = true;
        expectSame(whole, decodeIn(
                              wire,
                              [&] {
                                const std::size_t n = first ? cut : wire.size();
                                first = false;
                                return n;
                              },
                              limits));
      }
      for (int trial = 0; trial < 20; ++trial) {
        expectSame(whole, decodeIn(
                              wire, [&] { return std::size_t{1} + rng() % 7; }, limits));
      }
    }
  }
}

TEST(H1ContentLengthBody, TakesOnlyItsBytes) {
  H1ContentLengthBody body(7);
  EXPECT_EQ(body.take("abc"), "abc");
  EXPECT_EQ(body.remaining(), 4u);
  EXPECT_FALSE(body.done());
  const std::string rest = "defgGET / HTTP/1.1";
  const std::string_view got = body.take(rest);
  EXPECT_EQ(got, "defg");
  EXPECT_EQ(got.data(), rest.data());
  EXPECT_TRUE(body.done());
  EXPECT_EQ(body.received(), 7u);
  EXPECT_EQ(body.take("more"), "");
  body.reset(0);
  EXPECT_TRUE(body.done());
}

}  // namespace
}  // namespace pilotfish::http
