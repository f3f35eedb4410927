#pragma once
// HTTP/1.1 message body framing (RFC 9112 §6, §7): a strict streaming chunked decoder and a
// Content-Length tracker. Both are fed arbitrary slices of the byte stream (not a growing
// buffer) and return body data as views into those slices, never copies.
// Thread-safety: worker-local; one instance per message being read.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pilotfish/http/h1_types.h"

namespace pilotfish::http {

/// Outcome of one H1ChunkedDecoder::decode() call.
struct H1DecodeResult {
  /// Bytes of the input used; drop them before the next call. Unspecified on error (the
  /// connection is closed then).
  std::size_t consumed = 0;
  std::string_view data;  ///< decoded body bytes: a view into the input, possibly empty
  bool done = false;      ///< last chunk and trailer section read; later bytes are the next message
  H1Error error = H1Error::kNone;  ///< kBadChunk*, kChunkLineTooLong, kBadTrailer, ...

  bool failed() const noexcept { return error != H1Error::kNone; }
};

struct H1ChunkedLimits {
  std::size_t max_line_bytes = 4096;          ///< chunk-size line incl. extensions and CRLF
  std::size_t max_trailer_bytes = 16 * 1024;  ///< whole trailer section incl. final CRLF
  std::size_t max_trailers = 100;             ///< trailer field lines
};

/// Chunked transfer-coding decoder (RFC 9112 §7.1). Strict: the size is 1+ hex digits (leading
/// zeros allowed, values over 2^62 rejected); extensions must be
/// *(BWS ";" BWS token [BWS "=" BWS (token / quoted-string)]) with no control characters; every
/// line ends in exactly CRLF; trailer lines follow the head's field-line rules. Trailers are
/// parsed and kept apart (trailers()); they are never merged into the head's fields.
///
/// The caller enforces max_request_body with decoded(). After an error the decoder stays failed
/// until reset(). No exceptions; the only allocation is the reusable, bounded trailer buffer
/// (when a message carries trailers). Worker-local.
class H1ChunkedDecoder {
 public:
  explicit H1ChunkedDecoder(const H1ChunkedLimits& limits = {}) : limits_(limits) {}

  /// Consumes `input` until it has body data to return, the body ends, an error, or the input is
  /// exhausted. Call in a loop, dropping `consumed` bytes each time:
  ///   while (!in.empty()) { auto r = d.decode(in); in.remove_prefix(r.consumed);
  ///                         forward(r.data); if (r.done || r.failed()) break; }
  H1DecodeResult decode(std::string_view input) noexcept;

  bool done() const noexcept { return state_ == State::kDone; }
  bool failed() const noexcept { return state_ == State::kError; }
  H1Error error() const noexcept { return error_; }
  /// Body bytes decoded so far (chunk data only, no framing).
  uint64_t decoded() const noexcept { return decoded_; }
  /// Trailer fields of the finished message (views into an internal buffer valid until reset()).
  const H1FieldList& trailers() const noexcept { return trailers_; }

  /// Prepares for the next message; keeps buffers' capacity.
  void reset() noexcept;

  /// Largest chunk size accepted (2^62).
  static constexpr uint64_t kMaxChunkSize = uint64_t{1} << 62;

 private:
  enum class State : uint8_t {
    kSizeStart,
    kSize,
    kExtBws,
    kExtNameStart,
    kExtName,
    kExtAfterName,
    kExtValueStart,
    kExtValueToken,
    kExtQuoted,
    kExtQuotedPair,
    kExtAfterQuoted,
    kSizeLf,
    kData,
    kDataCr,
    kDataLf,
    kTrailer,
    kDone,
    kError
  };
  H1DecodeResult fail(H1DecodeResult r, H1Error error) noexcept;
  H1Error sizeLineByte(unsigned char c) noexcept;
  H1Error trailerLine() noexcept;

  H1ChunkedLimits limits_;
  State state_ = State::kSizeStart;
  H1Error error_ = H1Error::kNone;
  uint64_t size_ = 0;       // size of the current chunk
  uint64_t remaining_ = 0;  // data bytes of the current chunk still to come
  uint64_t decoded_ = 0;
  std::size_t line_bytes_ = 0;    // bytes of the current size line so far
  std::string trailer_buf_;       // raw trailer section (bounded by max_trailer_bytes)
  std::size_t trailer_line_ = 0;  // start of the incomplete trailer line in trailer_buf_
  struct FieldOffsets {
    uint32_t name_off, name_len, value_off, value_len;
  };
  std::vector<FieldOffsets> trailer_offsets_;
  H1FieldList trailers_;
};

/// Tracks a Content-Length body: take() splits each arriving slice into the part that belongs to
/// the body and the rest (the next message). No allocation. Worker-local.
class H1ContentLengthBody {
 public:
  explicit H1ContentLengthBody(uint64_t length = 0) noexcept : remaining_(length) {}

  /// The prefix of `input` that belongs to the body (a view, possibly empty); counts it.
  std::string_view take(std::string_view input) noexcept {
    const std::size_t n =
        input.size() < remaining_ ? input.size() : static_cast<std::size_t>(remaining_);
    remaining_ -= n;
    received_ += n;
    return input.substr(0, n);
  }
  uint64_t remaining() const noexcept { return remaining_; }
  uint64_t received() const noexcept { return received_; }
  bool done() const noexcept { return remaining_ == 0; }
  void reset(uint64_t length) noexcept {
    remaining_ = length;
    received_ = 0;
  }

 private:
  uint64_t remaining_;
  uint64_t received_ = 0;
};

}  // namespace pilotfish::http
