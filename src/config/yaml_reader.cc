#include "yaml_reader.h"

#include <algorithm>
#include <cstdio>

namespace pilotfish::config::detail {

namespace {

constexpr std::string_view kDurationExpected = "expected a duration like 250ms, 5s, 2m or 1h";
constexpr std::string_view kAddressExpected =
    "expected ip:port like 127.0.0.1:80 or \"[::1]:80\" (quote IPv6 addresses in YAML)";
constexpr std::size_t kMaxQuoted = 80;

bool isDigit(char c) { return c >= '0' && c <= '9'; }

int lineOf(const YAML::Mark& m) { return m.is_null() ? 0 : m.line + 1; }

// Optimal string alignment distance (Levenshtein plus adjacent transpositions), so that
// "adress" and "protocl" are both one edit away.
std::size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

bool contains(std::span<const std::string_view> list, std::string_view s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

}  // namespace

void Diagnostics::add(const YAML::Mark& mark, std::string path, std::string message) {
  ConfigError e;
  e.file = file_;
  e.line = mark.is_null() ? 0 : mark.line + 1;
  e.column = mark.is_null() ? 0 : mark.column + 1;
  e.path = std::move(path);
  e.message = std::move(message);
  errors_.push_back(std::move(e));
}

std::vector<ConfigError> Diagnostics::take() {
  std::stable_sort(errors_.begin(), errors_.end(), [](const ConfigError& a, const ConfigError& b) {
    return a.line != b.line ? a.line < b.line : a.column < b.column;
  });
  return std::move(errors_);
}

Field Field::child(std::string_view key, const YAML::Node& value,
                   const YAML::Mark& key_mark) const {
  Field f;
  f.node = value;
  f.path = path.empty() ? std::string(key) : path + "." + std::string(key);
  // An empty value (`key:` at the end of a line) carries the mark of the next token, which may
  // be lines away; the key is where the reader should look.
  f.mark = value.IsNull() || value.Mark().is_null() ? key_mark : value.Mark();
  return f;
}

Field Field::element(std::size_t index, const YAML::Node& value) const {
  Field f;
  f.node = value;
  f.path = path + "[" + std::to_string(index) + "]";
  f.mark = value.Mark().is_null() ? mark : value.Mark();
  return f;
}

std::string quote(std::string_view s) {
  std::string out = "\"";
  std::size_t n = std::min(s.size(), kMaxQuoted);
  for (std::size_t i = 0; i < n; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > n) out += "...";
  out += '"';
  return out;
}

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Scalar: return quote(node.Scalar());
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: break;
  }
  return "an empty value";
}

std::string_view closest(std::string_view word, std::span<const std::string_view> candidates) {
  std::string_view best;
  std::size_t best_distance = 3;  // suggest only within two edits...
  for (std::string_view c : candidates) {
    std::size_t d = editDistance(word, c);
    // ...and only when most of the word survives ("ab" is not a typo of "id").
    if (d < best_distance && d * 2 < c.size()) {
      best = c;
      best_distance = d;
    }
  }
  return best;
}

std::string joinNames(std::span<const std::string_view> names) {
  std::string out;
  for (std::string_view n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

MapReader::MapReader(Diagnostics& diag, const Field& map,
                     std::span<const std::string_view> supported,
                     std::span<const std::string_view> not_supported)
    : diag_(diag), map_(map) {
  if (!map.node.IsMap()) {
    diag_.add(map.mark, map.path, "expected a map, got " + describe(map.node));
    return;
  }
  ok_ = true;
  struct Seen {
    std::string key;
    int line;
  };
  std::vector<Seen> seen;
  for (auto it = map.node.begin(); it != map.node.end(); ++it) {
    const YAML::Node& key_node = it->first;
    if (!key_node.IsScalar()) {
      diag_.add(key_node.Mark(), map.path, "expected a string key, got " + describe(key_node));
      continue;
    }
    std::string key = key_node.Scalar();
    Field value = map.child(key, it->second, key_node.Mark());
    auto dup = std::find_if(seen.begin(), seen.end(), [&](const Seen& s) { return s.key == key; });
    if (dup != seen.end()) {
      diag_.add(key_node.Mark(), value.path,
                "duplicate key " + quote(key) + " (first at line " + std::to_string(dup->line) +
                    ")");
      continue;
    }
    seen.push_back({key, lineOf(key_node.Mark())});
    if (contains(supported, key)) {
      entries_.push_back({key, std::move(value)});
    } else if (contains(not_supported, key)) {
      diag_.add(key_node.Mark(), value.path, "key " + quote(key) + " is not supported yet");
    } else {
      std::string message = "unknown key " + quote(key);
      std::string_view guess = closest(key, supported);
      if (guess.empty()) guess = closest(key, not_supported);
      if (!guess.empty()) {
        message += "; did you mean " + quote(guess) + "?";
      } else {
        message += "; expected one of: " + joinNames(supported);
      }
      diag_.add(key_node.Mark(), value.path, std::move(message));
    }
  }
}

std::optional<Field> MapReader::get(std::string_view key) const {
  for (const auto& e : entries_) {
    if (e.key == key) return e.value;
  }
  return std::nullopt;
}

void MapReader::missing(std::string_view key, std::string_view hint) const {
  std::string message = "missing required key " + quote(key);
  if (!hint.empty()) {
    message += " (";
    message += hint;
    message += ')';
  }
  diag_.add(map_.mark, map_.path, std::move(message));
}

std::optional<std::string> readString(Diagnostics& diag, const Field& f) {
  if (!f.node.IsScalar()) {
    diag.add(f.mark, f.path, "expected a string, got " + describe(f.node));
    return std::nullopt;
  }
  return f.node.Scalar();
}

std::optional<std::string> readName(Diagnostics& diag, const Field& f) {
  auto s = readString(diag, f);
  if (!s) return std::nullopt;
  if (s->empty()) {
    diag.add(f.mark, f.path, "must not be empty");
    return std::nullopt;
  }
  bool ok = std::all_of(s->begin(), s->end(), [](char c) {
    return isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           c == '.' || c == '-';
  });
  if (!ok) {
    diag.add(f.mark, f.path,
             "invalid name " + quote(*s) + "; use only letters, digits, '_', '.' and '-'");
    return std::nullopt;
  }
  return s;
}

std::optional<int64_t> readInt(Diagnostics& diag, const Field& f, int64_t min, int64_t max) {
  if (!f.node.IsScalar()) {
    diag.add(f.mark, f.path, "expected an integer, got " + describe(f.node));
    return std::nullopt;
  }
  const std::string& s = f.node.Scalar();
  if (f.node.Tag() != "?") {
    // Quoted ("4") or explicitly tagged: a string in YAML, not a number.
    diag.add(f.mark, f.path, "expected a plain integer, got the string " + quote(s));
    return std::nullopt;
  }
  std::string_view digits = s;
  bool negative = !digits.empty() && digits.front() == '-';
  if (negative) digits.remove_prefix(1);
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), isDigit)) {
    diag.add(f.mark, f.path, "expected a decimal integer, got " + quote(s));
    return std::nullopt;
  }
  if (digits.size() > 1 && digits.front() == '0') {
    // YAML 1.1 readers take 010 for octal 8; refuse the ambiguity.
    diag.add(f.mark, f.path, "expected a decimal integer without leading zeros, got " + quote(s));
    return std::nullopt;
  }
  std::string range =
      "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " + s;
  if (digits.size() > 18) {
    diag.add(f.mark, f.path, std::move(range));
    return std::nullopt;
  }
  int64_t value = 0;
  for (char c : digits) value = value * 10 + (c - '0');
  if (negative) value = -value;
  if (value < min || value > max) {
    diag.add(f.mark, f.path, std::move(range));
    return std::nullopt;
  }
  return value;
}

std::optional<Duration> readDuration(Diagnostics& diag, const Field& f, bool positive) {
  if (!f.node.IsScalar()) {
    diag.add(f.mark, f.path, std::string(kDurationExpected) + ", got " + describe(f.node));
    return std::nullopt;
  }
  const std::string& s = f.node.Scalar();
  auto d = parseDuration(s);
  if (!d) {
    std::string message = std::string(kDurationExpected) + ", got " + quote(s);
    std::size_t digits = 0;
    while (digits < s.size() && isDigit(s[digits])) ++digits;
    std::string_view unit = std::string_view(s).substr(digits);
    if (!s.empty() && s.front() == '-') {
      message += " (negative durations are not allowed)";
    } else if (s.find('.') != std::string::npos) {
      message += " (no fractions; use a smaller unit, e.g. 1500ms)";
    } else if (digits > 0 && unit.empty()) {
      message += " (missing unit)";
    } else if (digits > 0 && (unit == "ms" || unit == "s" || unit == "m" || unit == "h")) {
      message += " (too large; the maximum is 2562047h)";
    }
    diag.add(f.mark, f.path, std::move(message));
    return std::nullopt;
  }
  if (positive && d->count() == 0) {
    diag.add(f.mark, f.path, "must be greater than 0");
    return std::nullopt;
  }
  return d;
}

std::optional<net::HostPort> readAddress(Diagnostics& diag, const Field& f, bool allow_name) {
  if (!f.node.IsScalar()) {
    diag.add(f.mark, f.path, std::string(kAddressExpected) + ", got " + describe(f.node));
    return std::nullopt;
  }
  std::string why;
  auto hp = net::parseHostPort(f.node.Scalar(), allow_name, &why);
  if (!hp) {
    std::string message = "invalid address " + quote(f.node.Scalar()) + ": " + why;
    // Reasons that already say what was expected need no generic hint.
    if (why.rfind("expected", 0) != 0 && why.find("e.g.") == std::string::npos) {
      message += "; expected ip:port like 127.0.0.1:80 or [::1]:80";
    }
    diag.add(f.mark, f.path, std::move(message));
    return std::nullopt;
  }
  return hp;
}

std::optional<std::vector<Field>> readList(Diagnostics& diag, const Field& f) {
  if (!f.node.IsSequence()) {
    diag.add(f.mark, f.path, "expected a list, got " + describe(f.node));
    return std::nullopt;
  }
  std::vector<Field> out;
  out.reserve(f.node.size());
  std::size_t i = 0;
  for (auto it = f.node.begin(); it != f.node.end(); ++it) out.push_back(f.element(i++, *it));
  return out;
}

}  // namespace pilotfish::config::detail
