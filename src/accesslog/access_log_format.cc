#include "pilotfish/accesslog/access_log_format.h"

#include <charconv>

namespace pilotfish::accesslog {

namespace {

constexpr char kHex[] = "0123456789abcdef";

// Length of the well-formed UTF-8 sequence at p (Unicode Table 3-7: no overlongs, no
// surrogates, nothing above U+10FFFF), or 0 if the bytes there are not one. *cp gets the code
// point. Precondition: n >= 1 and p[0] >= 0x80.
std::size_t utf8Sequence(const unsigned char* p, std::size_t n, uint32_t* cp) {
  unsigned char c = p[0];
  std::size_t len;
  unsigned char lo = 0x80, hi = 0xbf;  // bounds of the second byte
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
  } else {
    return 0;
  }
  if (n < len) return 0;
  if (p[1] < lo || p[1] > hi) return 0;
  for (std::size_t k = 2; k < len; ++k) {
    if ((p[k] & 0xc0) != 0x80) return 0;
  }
  uint32_t v = c & (len == 2 ? 0x1f : len == 3 ? 0x0f : 0x07);
  for (std::size_t k = 1; k < len; ++k) v = (v << 6) | (p[k] & 0x3f);
  *cp = v;
  return len;
}

// Code points that are valid but must not appear raw: C1 controls (terminals act on them) and
// the Unicode line/paragraph separators (some readers split lines on them).
bool mustEscapeCodePoint(uint32_t cp) {
  return (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029;
}

void appendU4(std::string& out, uint32_t cp) {
  char buf[6] = {
      '\\',          'u', kHex[(cp >> 12) & 0xf], kHex[(cp >> 8) & 0xf], kHex[(cp >> 4) & 0xf],
      kHex[cp & 0xf]};
  out.append(buf, sizeof buf);
}

void appendX2(std::string& out, unsigned char c) {
  char buf[4] = {'\\', 'x', kHex[c >> 4], kHex[c & 0xf]};
  out.append(buf, sizeof buf);
}

void appendUnsigned(std::string& out, uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, static_cast<std::size_t>(r.ptr - buf));
}

bool isPlainAscii(unsigned char c) {
  return c > 0x20 && c < 0x7f && c != '"' && c != '\\';
}

// True when `v` can be written bare in the text format.
bool isBareText(std::string_view v) {
  if (v.empty() || v == "-") return false;
  auto* p = reinterpret_cast<const unsigned char*>(v.data());
  std::size_t n = v.size();
  for (std::size_t i = 0; i < n;) {
    if (p[i] < 0x80) {
      if (!isPlainAscii(p[i])) return false;
      ++i;
      continue;
    }
    uint32_t cp = 0;
    std::size_t len = utf8Sequence(p + i, n - i, &cp);
    if (len == 0 || mustEscapeCodePoint(cp)) return false;
    i += len;
  }
  return true;
}

// Writes the two digits of v (0-99) at p.
void put2(char* p, unsigned v) {
  p[0] = static_cast<char>('0' + v / 10);
  p[1] = static_cast<char>('0' + v % 10);
}

}  // namespace

void appendRfc3339(std::string& out, int64_t us) {
  constexpr int64_t kMaxUs = 253402300799999999;  // 9999-12-31T23:59:59.999999Z
  if (us < 0) us = 0;
  if (us > kMaxUs) us = kMaxUs;
  int64_t secs = us / 1000000;
  auto micros = static_cast<uint32_t>(us % 1000000);
  int64_t days = secs / 86400;
  auto sod = static_cast<uint32_t>(secs % 86400);
  // Civil date from days since 1970-01-01 (H. Hinnant's algorithm; days >= 0 here).
  int64_t z = days + 719468;
  int64_t era = z / 146097;
  auto doe = static_cast<uint32_t>(z - era * 146097);
  uint32_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  uint32_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  uint32_t mp = (5 * doy + 2) / 153;
  uint32_t day = doy - (153 * mp + 2) / 5 + 1;
  uint32_t month = mp < 10 ? mp + 3 : mp - 9;
  auto year = static_cast<uint32_t>(yoe + era * 400 + (month <= 2 ? 1 : 0));

  char b[27];  // YYYY-MM-DDTHH:MM:SS.ffffffZ
  put2(b, year / 100);
  put2(b + 2, year % 100);
  b[4] = '-';
  put2(b + 5, month);
  b[7] = '-';
  put2(b + 8, day);
  b[10] = 'T';
  put2(b + 11, sod / 3600);
  b[13] = ':';
  put2(b + 14, sod / 60 % 60);
  b[16] = ':';
  put2(b + 17, sod % 60);
  b[19] = '.';
  for (int i = 25; i >= 20; --i) {
    b[i] = static_cast<char>('0' + micros % 10);
    micros /= 10;
  }
  b[26] = 'Z';
  out.append(b, sizeof b);
}

void appendJsonString(std::string& out, std::string_view v) {
  out += '"';
  auto* p = reinterpret_cast<const unsigned char*>(v.data());
  std::size_t n = v.size();
  std::size_t run = 0;  // start of the pending run of bytes copied as they are
  std::size_t i = 0;
  while (i < n) {
    unsigned char c = p[i];
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      ++i;
      continue;
    }
    out.append(v.data() + run, i - run);
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default: appendU4(out, c); break;  // other C0 controls and DEL
      }
      ++i;
    } else {
      uint32_t cp = 0;
      std::size_t len = utf8Sequence(p + i, n - i, &cp);
      if (len == 0) {
        out += "\\ufffd";
        ++i;
      } else {
        if (mustEscapeCodePoint(cp)) {
          appendU4(out, cp);
        } else {
          out.append(v.data() + i, len);
        }
        i += len;
      }
    }
    run = i;
  }
  out.append(v.data() + run, n - run);
  out += '"';
}

void appendTextValue(std::string& out, std::string_view v) {
  if (isBareText(v)) {
    out.append(v);
    return;
  }
  out += '"';
  auto* p = reinterpret_cast<const unsigned char*>(v.data());
  std::size_t n = v.size();
  for (std::size_t i = 0; i < n;) {
    unsigned char c = p[i];
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (c < 0x20 || c == 0x7f) {
            appendX2(out, c);
          } else {
            out += static_cast<char>(c);
          }
          break;
      }
      ++i;
      continue;
    }
    uint32_t cp = 0;
    std::size_t len = utf8Sequence(p + i, n - i, &cp);
    if (len == 0) {
      appendX2(out, c);
      ++i;
    } else {
      if (mustEscapeCodePoint(cp)) {
        appendU4(out, cp);
      } else {
        out.append(v.data() + i, len);
      }
      i += len;
    }
  }
  out += '"';
}

void AccessLogFormatter::append(std::string& out, const AccessLogEntry& e) const {
  if (format_ == AccessLogFormat::kText) {
    appendText(out, e);
  } else {
    appendJson(out, e);
  }
}

void AccessLogFormatter::appendJson(std::string& out, const AccessLogEntry& e) const {
  out += '{';
  bool first = true;
  for (std::size_t i = 0; i < kFieldCount; ++i) {
    auto f = static_cast<Field>(i);
    if (!fields_.has(f)) continue;
    if (!first) out += ',';
    first = false;
    out += '"';
    out += kFieldNames[i];  // names are plain ASCII: no escaping needed
    out += "\":";
    if (!e.has(f)) {
      out += "null";
    } else if (f == Field::kTs) {
      out += '"';
      appendRfc3339(out, e.tsUs());
      out += '"';
    } else if (isStringField(f)) {
      appendJsonString(out, e.string(f));
    } else {
      appendUnsigned(out, e.number(f));
    }
  }
  out += "}\n";
}

void AccessLogFormatter::appendText(std::string& out, const AccessLogEntry& e) const {
  bool first = true;
  for (std::size_t i = 0; i < kFieldCount; ++i) {
    auto f = static_cast<Field>(i);
    if (!fields_.has(f)) continue;
    if (!first) out += ' ';
    first = false;
    if (!e.has(f)) {
      out += '-';
    } else if (f == Field::kTs) {
      appendRfc3339(out, e.tsUs());
    } else if (isStringField(f)) {
      appendTextValue(out, e.string(f));
    } else {
      appendUnsigned(out, e.number(f));
    }
  }
  out += '\n';
}

}  // namespace pilotfish::accesslog
