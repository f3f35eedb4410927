#include "pilotfish/http/h1_types.h"

#include <array>
#include <cstdint>

#include "http/h1_common_impl.h"

namespace pilotfish::http {
namespace {

struct ErrorInfo {
  uint16_t status;
  std::string_view token;
};

constexpr std::array<ErrorInfo, static_cast<std::size_t>(H1Error::kCount)> kErrors = {{
    {0, ""},
    {400, "bare_lf"},
    {400, "bare_cr"},
    {400, "obs_fold"},
    {400, "space_before_colon"},
    {400, "bad_header_name"},
    {400, "underscore_in_header_name"},
    {400, "bad_header_value"},
    {400, "bad_method"},
    {400, "bad_target"},
    {400, "bad_version"},
    {400, "bad_status_line"},
    {400, "missing_host"},
    {400, "duplicate_host"},
    {400, "bad_host"},
    {400, "bad_content_length"},
    {400, "content_length_and_transfer_encoding"},
    {400, "bad_transfer_encoding"},
    {400, "transfer_encoding_in_http10"},
    {501, "unknown_transfer_encoding"},
    {400, "bad_connection"},
    {400, "bad_upgrade"},
    {414, "request_line_too_long"},
    {431, "headers_too_large"},
    {431, "too_many_headers"},
    {400, "bad_chunk_size"},
    {400, "bad_chunk_extension"},
    {400, "bad_chunk_framing"},
    {400, "chunk_line_too_long"},
    {400, "bad_trailer"},
    {431, "trailers_too_large"},
}};

const ErrorInfo& info(H1Error e) noexcept {
  const auto i = static_cast<std::size_t>(e);
  return i < kErrors.size() ? kErrors[i] : kErrors[0];
}

}  // namespace

uint16_t h1ErrorStatus(H1Error error) {
  return info(error).status;
}

std::string_view h1ErrorToken(H1Error error) {
  return info(error).token;
}

H1Method h1MethodFromToken(std::string_view t) {
  switch (t.size()) {
    case 3:
      if (t == "GET") return H1Method::kGet;
      if (t == "PUT") return H1Method::kPut;
      break;
    case 4:
      if (t == "HEAD") return H1Method::kHead;
      if (t == "POST") return H1Method::kPost;
      break;
    case 5:
      if (t == "PATCH") return H1Method::kPatch;
      if (t == "TRACE") return H1Method::kTrace;
      break;
    case 6:
      if (t == "DELETE") return H1Method::kDelete;
      break;
    case 7:
      if (t == "CONNECT") return H1Method::kConnect;
      if (t == "OPTIONS") return H1Method::kOptions;
      break;
    default: break;
  }
  return H1Method::kOther;
}

bool h1EqualsIgnoreCase(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (detail::toLower(a[i]) != detail::toLower(b[i])) return false;
  }
  return true;
}

std::optional<std::string_view> H1FieldList::get(std::string_view name) const noexcept {
  for (const H1Field& f : fields_) {
    if (h1EqualsIgnoreCase(f.name, name)) return f.value;
  }
  return std::nullopt;
}

std::size_t H1FieldList::count(std::string_view name) const noexcept {
  std::size_t n = 0;
  for (const H1Field& f : fields_) {
    if (h1EqualsIgnoreCase(f.name, name)) ++n;
  }
  return n;
}

void H1FieldList::rebase(const char* from, const char* to) noexcept {
  // Offsets are computed on integers: `from` no longer points into a live object.
  const auto old_base = reinterpret_cast<std::uintptr_t>(from);
  auto move = [&](std::string_view v) {
    const std::uintptr_t off = reinterpret_cast<std::uintptr_t>(v.data()) - old_base;
    return std::string_view(to + off, v.size());
  };
  for (H1Field& f : fields_) {
    f.name = move(f.name);
    f.value = move(f.value);
  }
}

bool H1ListElements::next(std::string_view& element) noexcept {
  if (done_) return false;
  const std::size_t comma = rest_.find(',');
  std::string_view e = rest_.substr(0, comma);
  if (comma == std::string_view::npos) {
    done_ = true;
  } else {
    rest_.remove_prefix(comma + 1);
  }
  while (!e.empty() && (e.front() == ' ' || e.front() == '\t')) e.remove_prefix(1);
  while (!e.empty() && (e.back() == ' ' || e.back() == '\t')) e.remove_suffix(1);
  element = e;
  return true;
}

}  // namespace pilotfish::http
