#pragma once
// A string of bounded length stored inline, for header values and IDs that must not allocate on
// the data path.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace pilotfish::tracing {

/// At most N chars stored inline (never on the heap). A plain value: copying copies the chars,
/// and view() always points into *this, so a view is valid while *this is alive and unchanged.
/// Appending past the capacity fails and leaves the content as it was. Not thread-safe (a value).
template <std::size_t N>
class FixedString {
  static_assert(N > 0 && N <= UINT16_MAX, "FixedString capacity out of range");

 public:
  static constexpr std::size_t kCapacity = N;

  FixedString() = default;

  std::string_view view() const { return {data_, size_}; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  void clear() { size_ = 0; }

  /// Appends `s` whole; false (and no change) when it does not fit.
  bool append(std::string_view s) {
    if (s.size() > N - size_) return false;
    if (!s.empty()) std::memcpy(data_ + size_, s.data(), s.size());
    size_ = static_cast<uint16_t>(size_ + s.size());
    return true;
  }
  /// Appends one char; false when full.
  bool push(char c) {
    if (size_ == N) return false;
    data_[size_++] = c;
    return true;
  }
  /// Replaces the content with `s`; false (and empty) when it does not fit.
  bool assign(std::string_view s) {
    clear();
    return append(s);
  }

  /// For writers that fill the buffer in place: grows the string by `n` uninitialised-looking
  /// (zero or stale) chars and returns a pointer to them, or nullptr when they do not fit.
  char* extend(std::size_t n) {
    if (n > N - size_) return nullptr;
    char* p = data_ + size_;
    size_ = static_cast<uint16_t>(size_ + n);
    return p;
  }

  friend bool operator==(const FixedString& a, const FixedString& b) {
    return a.view() == b.view();
  }
  friend bool operator==(const FixedString& a, std::string_view b) { return a.view() == b; }

 private:
  char data_[N] = {};
  uint16_t size_ = 0;
};

}  // namespace pilotfish::tracing
