#include "pilotfish/http/h1_body.h"

#include <cstring>

#include "http/h1_common_impl.h"

namespace pilotfish::http {

void H1ChunkedDecoder::reset() noexcept {
  state_ = State::kSizeStart;
  error_ = H1Error::kNone;
  size_ = 0;
  remaining_ = 0;
  decoded_ = 0;
  line_bytes_ = 0;
  trailer_buf_.clear();
  trailer_line_ = 0;
  trailer_offsets_.clear();
  trailers_.clear();
}

H1DecodeResult H1ChunkedDecoder::fail(H1DecodeResult r, H1Error error) noexcept {
  state_ = State::kError;
  error_ = error;
  r.error = error;
  r.data = {};
  return r;
}

// chunk      = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
// chunk-ext  = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ),  ext-val = token / quoted-string
// One byte of a chunk-size line; kNone while it is fine so far.
H1Error H1ChunkedDecoder::sizeLineByte(unsigned char c) noexcept {
  const bool ws = c == ' ' || c == '\t';
  const bool tchar = detail::is(static_cast<char>(c), detail::kClsTchar);
  switch (state_) {
    case State::kSizeStart:
    case State::kSize: {
      const int v = detail::hexValue(static_cast<char>(c));
      if (v >= 0) {
        if (size_ > (kMaxChunkSize >> 4)) return H1Error::kBadChunkSize;
        size_ = (size_ << 4) | static_cast<uint64_t>(v);
        if (size_ > kMaxChunkSize) return H1Error::kBadChunkSize;
        state_ = State::kSize;
        return H1Error::kNone;
      }
      if (state_ == State::kSizeStart) {
        return c == '\n' ? H1Error::kBadChunkFraming : H1Error::kBadChunkSize;
      }
      if (c == '\r')
        state_ = State::kSizeLf;
      else if (c == ';')
        state_ = State::kExtNameStart;
      else if (ws)
        state_ = State::kExtBws;
      else if (c == '\n')
        return H1Error::kBadChunkFraming;
      else
        return H1Error::kBadChunkSize;
      return H1Error::kNone;
    }
    case State::kExtBws:  // whitespace that must lead to ";"
      if (c == ';')
        state_ = State::kExtNameStart;
      else if (!ws)
        return c == '\n' ? H1Error::kBadChunkFraming : H1Error::kBadChunkExtension;
      return H1Error::kNone;
    case State::kExtNameStart:
      if (tchar)
        state_ = State::kExtName;
      else if (!ws)
        return c == '\n' ? H1Error::kBadChunkFraming : H1Error::kBadChunkExtension;
      return H1Error::kNone;
    case State::kExtName:
      if (tchar) return H1Error::kNone;
      if (c == '\r')
        state_ = State::kSizeLf;
      else if (c == ';')
        state_ = State::kExtNameStart;
      else if (c == '=')
        state_ = State::kExtValueStart;
      else if (ws)
        state_ = State::kExtAfterName;
      else
        return c == '\n' ? H1Error::kBadChunkFraming : H1Error::kBadChunkExtension;
      return H1Error::kNone;
    case State::kExtAfterName:  // BWS after a name: "=" or ";" must follow
      if (c == '=')
        state_ = State::kExtValueStart;
      else if (c == ';')
        state_ = State::kExtNameStart;
      else if (!ws)
        return c == '\n' ? H1Error::kBadChunkFraming : H1Error::kBadChunkExtension;
      return H1Error::kNone;
    case State::kExtValueStart:
      if (c == '"')
        state_ = State::kExtQuoted;
      else if (tchar)
        state_ = State::kExtValueToken;
      else if (!ws)
        return c == '\n' ? H1Error::kBadChunkFraming : H1Error::kBadChunkExtension;
      return H1Error::kNone;
    case State::kExtValueToken:
      if (tchar) return H1Error::kNone;
      if (c == '\r')
        state_ = State::kSizeLf;
      else if (c == ';')
        state_ = State::kExtNameStart;
      else if (ws)
        state_ = State::kExtBws;
      else
        return c == '\n' ? H1Error::kBadChunkFraming : H1Error::kBadChunkExtension;
      return H1Error::kNone;
    case State::kExtQuoted:
      if (c == '"')
        state_ = State::kExtAfterQuoted;
      else if (c == '\\')
        state_ = State::kExtQuotedPair;
      else if (!detail::is(static_cast<char>(c), detail::kClsQdtext)) {
        return c == '\n' ? H1Error::kBadChunkFraming : H1Error::kBadChunkExtension;
      }
      return H1Error::kNone;
    case State::kExtQuotedPair:  // HTAB / SP / VCHAR / obs-text
      if (!(ws || detail::is(static_cast<char>(c), detail::kClsFvchar))) {
        return c == '\n' ? H1Error::kBadChunkFraming : H1Error::kBadChunkExtension;
      }
      state_ = State::kExtQuoted;
      return H1Error::kNone;
    case State::kExtAfterQuoted:
      if (c == '\r')
        state_ = State::kSizeLf;
      else if (c == ';')
        state_ = State::kExtNameStart;
      else if (ws)
        state_ = State::kExtBws;
      else
        return c == '\n' ? H1Error::kBadChunkFraming : H1Error::kBadChunkExtension;
      return H1Error::kNone;
    case State::kSizeLf:
      if (c != '\n') return H1Error::kBadChunkFraming;
      if (size_ == 0) {
        state_ = State::kTrailer;
      } else {
        state_ = State::kData;
        remaining_ = size_;
      }
      return H1Error::kNone;
    case State::kDataCr:
      if (c != '\r') return H1Error::kBadChunkFraming;
      state_ = State::kDataLf;
      return H1Error::kNone;
    case State::kDataLf:
      if (c != '\n') return H1Error::kBadChunkFraming;
      state_ = State::kSizeStart;
      size_ = 0;
      line_bytes_ = 0;
      return H1Error::kNone;
    default: return H1Error::kBadChunkFraming;  // unreachable: the other states are not byte-driven
  }
}

// A complete line [trailer_line_, size) of trailer_buf_ (it ends in LF). kNone if fine.
H1Error H1ChunkedDecoder::trailerLine() noexcept {
  const char* p = trailer_buf_.data() + trailer_line_;
  const std::size_t avail = trailer_buf_.size() - trailer_line_;
  H1Field field;
  detail::H1LineProgress progress;
  const detail::LineOutcome r = detail::parseFieldLine(
      p, avail, trailer_offsets_.size() >= limits_.max_trailers, false, progress, field);
  if (r.status == detail::LineStatus::kError) {
    return r.error == H1Error::kTooManyHeaders ? H1Error::kTrailersTooLarge : H1Error::kBadTrailer;
  }
  if (r.status != detail::LineStatus::kComplete) return H1Error::kBadTrailer;  // unreachable
  if (r.len == 0) {
    state_ = State::kDone;
    for (const FieldOffsets& o : trailer_offsets_) {
      trailers_.push({std::string_view(trailer_buf_.data() + o.name_off, o.name_len),
                      std::string_view(trailer_buf_.data() + o.value_off, o.value_len)});
    }
    return H1Error::kNone;
  }
  const char* base = trailer_buf_.data();
  trailer_offsets_.push_back({static_cast<uint32_t>(field.name.data() - base),
                              static_cast<uint32_t>(field.name.size()),
                              static_cast<uint32_t>(field.value.data() - base),
                              static_cast<uint32_t>(field.value.size())});
  trailer_line_ = trailer_buf_.size();
  return H1Error::kNone;
}

H1DecodeResult H1ChunkedDecoder::decode(std::string_view input) noexcept {
  H1DecodeResult r;
  if (state_ == State::kError) {
    r.error = error_;
    return r;
  }
  if (state_ == State::kDone) {
    r.done = true;
    return r;
  }
  const char* in = input.data();
  const std::size_t n = input.size();
  std::size_t i = 0;
  while (i < n) {
    if (state_ == State::kData) {
      const std::size_t take = remaining_ < n - i ? static_cast<std::size_t>(remaining_) : n - i;
      r.data = input.substr(i, take);
      i += take;
      remaining_ -= take;
      decoded_ += take;
      if (remaining_ == 0) state_ = State::kDataCr;
      r.consumed = i;
      return r;
    }
    if (state_ == State::kTrailer) {
      const void* lf = std::memchr(in + i, '\n', n - i);
      const std::size_t take =
          lf != nullptr ? static_cast<std::size_t>(static_cast<const char*>(lf) - (in + i)) + 1
                        : n - i;
      if (take > limits_.max_trailer_bytes - trailer_buf_.size()) {
        r.consumed = i;
        return fail(r, H1Error::kTrailersTooLarge);
      }
      trailer_buf_.append(in + i, take);
      i += take;
      if (lf == nullptr) break;
      if (const H1Error e = trailerLine(); e != H1Error::kNone) {
        r.consumed = i;
        return fail(r, e);
      }
      if (state_ == State::kDone) {
        r.consumed = i;
        r.done = true;
        return r;
      }
      continue;
    }
    // A byte of a chunk-size line or of the CRLF after chunk data.
    const bool in_size_line = state_ != State::kDataCr && state_ != State::kDataLf;
    if (in_size_line && ++line_bytes_ > limits_.max_line_bytes) {
      r.consumed = i;
      return fail(r, H1Error::kChunkLineTooLong);
    }
    const H1Error e = sizeLineByte(static_cast<unsigned char>(in[i]));
    ++i;
    if (e != H1Error::kNone) {
      r.consumed = i;
      return fail(r, e);
    }
  }
  r.consumed = i;
  return r;
}

}  // namespace pilotfish::http
