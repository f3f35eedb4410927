#include "yaml_reader.h"

#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <limits>
#include <sstream>

namespace pilotfish::config::detail {

namespace {

constexpr std::string_view kDurationExpected = "expected a duration like 250ms, 5s, 2m or 1h";
constexpr std::string_view kAddressExpected =
    "expected ip:port like 127.0.0.1:80 or \"[::1]:80\" (quote IPv6 addresses in YAML)";
constexpr std::string_view kSizeExpected = "expected a size like 1048576, 512KiB, 10MiB or 1GiB";
constexpr std::size_t kMaxQuoted = 80;

bool isDigit(char c) {
  return c >= '0' && c <= '9';
}

int lineOf(const YAML::Mark& m) {
  return m.is_null() ? 0 : m.line + 1;
}

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

// Counts the documents of a stream and remembers where each starts. A document that produced
// nothing but a null root counts as empty.
class DocumentCounter : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override {
    start = mark;
    content = false;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override { content = true; }
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {
    content = true;
  }
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    content = true;
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    content = true;
  }
  void OnMapEnd() override {}

  YAML::Mark start;
  bool content = false;
};

// The first character of `text` at or after `from` that is not blank, a comment, a directive
// or a document marker, or nullopt. Used to tell an empty document from one that yaml-cpp read
// as empty because it stopped at a token it could not place.
std::optional<YAML::Mark> firstContent(const std::string& text, std::size_t from) {
  int line = static_cast<int>(std::count(text.begin(), text.begin() + from, '\n'));
  std::size_t line_start = text.rfind('\n', from == 0 ? 0 : from - 1);
  line_start = line_start == std::string::npos || from == 0 ? 0 : line_start + 1;
  std::size_t begin = from;
  while (begin <= text.size()) {
    std::size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    std::string_view l(text.data() + begin, end - begin);
    std::size_t col = l.find_first_not_of(" \t\r");
    if (col != std::string_view::npos) {
      std::string_view rest = l.substr(col);
      if (rest.starts_with("---") || rest.starts_with("...")) {
        std::size_t more = l.find_first_not_of(" \t\r", col + 3);
        col = more;
      }
      if (col != std::string_view::npos && l[col] != '#' && l[col] != '%') {
        YAML::Mark mark;
        mark.pos = static_cast<int>(begin + col);
        mark.line = line;
        mark.column = static_cast<int>(begin + col - line_start);
        return mark;
      }
    }
    begin = end + 1;
    line_start = begin;
    ++line;
  }
  return std::nullopt;
}

// Records a syntax error when the (empty-looking) document starting at `from` holds more than a
// null literal. Returns whether it did.
bool reportStrayContent(Diagnostics& diag, const std::string& text, std::size_t from) {
  auto content = firstContent(text, from);
  if (!content) return false;
  auto pos = static_cast<std::size_t>(content->pos);
  std::size_t end = text.find_first_of(" \t\r\n", pos);
  std::string token = text.substr(pos, end == std::string::npos ? end : end - pos);
  if (token == "~" || token == "null" || token == "Null" || token == "NULL" ||
      token.front() == '!') {
    return false;
  }
  diag.add(*content, "", "YAML syntax error: unexpected " + quote(token.substr(0, 1)));
  return true;
}

}  // namespace

std::optional<YAML::Node> parseDocument(Diagnostics& diag, const std::string& text) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    diag.add(e.mark, "", "YAML syntax error: " + e.msg);
    return std::nullopt;
  } catch (const std::exception& e) {
    diag.add(YAML::Mark::null_mark(), "", std::string("cannot parse YAML: ") + e.what());
    return std::nullopt;
  }
  // yaml-cpp 0.7's LoadAll loops forever, allocating a null node per turn, when a document
  // starts with a token its parser does not consume (",", "]": jbeder/yaml-cpp#1040, fixed
  // upstream after 0.8.0 by #1319). Count documents with the event parser instead and stop, as
  // that fix does, at the first empty one.
  std::size_t documents = 0;
  YAML::Mark second = YAML::Mark::null_mark();
  try {
    std::istringstream in(text);
    YAML::Parser parser(in);
    DocumentCounter counter;
    while (documents < 2 && parser.HandleNextDocument(counter)) {
      if (!counter.content) {
        // An empty document ends the count; if it is not really empty, it is an error.
        std::size_t from = counter.start.is_null() ? 0 : counter.start.pos;
        if (documents > 0 && reportStrayContent(diag, text, std::min(from, text.size()))) {
          return std::nullopt;
        }
        break;
      }
      if (++documents == 2) second = counter.start;
    }
  } catch (const YAML::Exception& e) {
    // A syntax error in a later document (the first one parsed above).
    diag.add(e.mark, "", "YAML syntax error: " + e.msg);
    return std::nullopt;
  }
  if (root.IsNull()) {
    if (!reportStrayContent(diag, text, 0)) {
      // No node to blame: point at the start of the file.
      diag.add(YAML::Mark(), "",
               "empty document; expected a map with at least \"clusters\" and \"listeners\"");
    }
    return std::nullopt;
  }
  if (documents > 1) {
    diag.add(second, "", "expected a single YAML document, found more than one");
  }
  return root;
}

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
  if (!best.empty()) return best;
  // A longer or shorter spelling of a known word: "warning" for "warn", "idle" for
  // "idle_timeout". Three letters at least, so that "t" does not suggest "trace".
  for (std::string_view c : candidates) {
    std::string_view shorter = c.size() < word.size() ? c : word;
    std::string_view longer = c.size() < word.size() ? word : c;
    if (shorter.size() >= 3 && longer.substr(0, shorter.size()) == shorter) return c;
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
    // Copies: `it->` yields a temporary proxy, a reference into it would dangle.
    YAML::Node key_node = it->first;
    YAML::Node value_node = it->second;
    if (!key_node.IsScalar()) {
      diag_.add(key_node.Mark(), map.path, "expected a string key, got " + describe(key_node));
      continue;
    }
    std::string key = key_node.Scalar();
    Field value = map.child(key, value_node, key_node.Mark());
    auto dup = std::find_if(seen.begin(), seen.end(), [&](const Seen& s) { return s.key == key; });
    if (dup != seen.end()) {
      diag_.add(
          key_node.Mark(), value.path,
          "duplicate key " + quote(key) + " (first at line " + std::to_string(dup->line) + ")");
      continue;
    }
    seen.push_back({key, lineOf(key_node.Mark())});
    if (contains(supported, key)) {
      entries_.push_back({key, std::move(value), key_node.Mark()});
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

YAML::Mark MapReader::keyMark(std::string_view key) const {
  for (const auto& e : entries_) {
    if (e.key == key) return e.key_mark;
  }
  return map_.mark;
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
    return isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '.' ||
           c == '-';
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

std::optional<bool> readBool(Diagnostics& diag, const Field& f) {
  if (!f.node.IsScalar()) {
    diag.add(f.mark, f.path, "expected true or false, got " + describe(f.node));
    return std::nullopt;
  }
  const std::string& s = f.node.Scalar();
  if (f.node.Tag() != "?") {
    diag.add(f.mark, f.path, "expected true or false, got the string " + quote(s));
    return std::nullopt;
  }
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  std::string message = "expected true or false, got " + quote(s);
  static constexpr std::string_view kYaml11[] = {"yes", "Yes", "YES", "no",  "No", "NO", "on", "On",
                                                 "ON",  "off", "Off", "OFF", "y",  "Y",  "n",  "N"};
  if (contains(kYaml11, s)) message += " (YAML 1.1 spelling; write true or false)";
  diag.add(f.mark, f.path, std::move(message));
  return std::nullopt;
}

std::optional<double> readNumber(Diagnostics& diag, const Field& f, double min, double max) {
  if (!f.node.IsScalar()) {
    diag.add(f.mark, f.path, "expected a number, got " + describe(f.node));
    return std::nullopt;
  }
  const std::string& s = f.node.Scalar();
  if (f.node.Tag() != "?") {
    diag.add(f.mark, f.path, "expected a plain number, got the string " + quote(s));
    return std::nullopt;
  }
  // YAML 1.2 core schema floats, without the sign '+' and without .inf/.nan:
  // -?( \.[0-9]+ | [0-9]+(\.[0-9]*)? )([eE][-+]?[0-9]+)?
  std::size_t i = 0;
  if (i < s.size() && s[i] == '-') ++i;
  std::size_t int_digits = 0, frac_digits = 0;
  while (i < s.size() && isDigit(s[i])) ++i, ++int_digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && isDigit(s[i])) ++i, ++frac_digits;
  }
  bool ok = int_digits > 0 || frac_digits > 0;
  if (ok && i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    std::size_t exp_digits = 0;
    while (i < s.size() && isDigit(s[i])) ++i, ++exp_digits;
    ok = exp_digits > 0;
  }
  double value = 0;
  if (ok && i == s.size()) {
    // from_chars does not take a leading '.'; give it "0.5" for ".5".
    std::string text = s;
    std::size_t dot = text.front() == '-' ? 1 : 0;
    if (text[dot] == '.') text.insert(dot, "0");
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    ok = ec == std::errc() && end == text.data() + text.size();
  } else {
    ok = false;
  }
  if (!ok) {
    diag.add(f.mark, f.path, "expected a decimal number like 0.25, got " + quote(s));
    return std::nullopt;
  }
  if (!(value >= min && value <= max)) {
    char lo[32], hi[32];
    std::snprintf(lo, sizeof lo, "%g", min);
    std::snprintf(hi, sizeof hi, "%g", max);
    diag.add(f.mark, f.path, std::string("must be between ") + lo + " and " + hi + ", got " + s);
    return std::nullopt;
  }
  if (value == 0) value = 0;  // no "-0" in /config
  return value;
}

std::optional<uint64_t> readSize(Diagnostics& diag, const Field& f) {
  if (!f.node.IsScalar()) {
    diag.add(f.mark, f.path, std::string(kSizeExpected) + ", got " + describe(f.node));
    return std::nullopt;
  }
  const std::string& s = f.node.Scalar();
  std::size_t digits = 0;
  while (digits < s.size() && isDigit(s[digits])) ++digits;
  std::string_view unit = std::string_view(s).substr(digits);
  uint64_t factor = 0;
  if (unit.empty()) {
    factor = 1;
  } else if (unit == "KiB") {
    factor = uint64_t{1} << 10;
  } else if (unit == "MiB") {
    factor = uint64_t{1} << 20;
  } else if (unit == "GiB") {
    factor = uint64_t{1} << 30;
  }
  std::string message = std::string(kSizeExpected) + ", got " + quote(s);
  if (factor == 0 || digits == 0 || (digits > 1 && s.front() == '0')) {
    if (!s.empty() && s.front() == '-') {
      message += " (negative sizes are not allowed)";
    } else if (s.find('.') != std::string::npos) {
      message += " (no fractions; use a smaller unit, e.g. 1536KiB)";
    } else if (digits > 1 && s.front() == '0' && factor != 0) {
      message += " (no leading zeros)";
    } else if (digits > 0 && factor == 0) {
      message += " (units are KiB, MiB and GiB, powers of 1024, written without a space)";
    }
    diag.add(f.mark, f.path, std::move(message));
    return std::nullopt;
  }
  constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  uint64_t value = 0;
  bool overflow = false;
  for (std::size_t i = 0; i < digits && !overflow; ++i) {
    uint64_t d = static_cast<uint64_t>(s[i] - '0');
    overflow = value > (kMax - d) / 10;
    value = value * 10 + d;
  }
  if (overflow || value > kMax / factor) {
    diag.add(f.mark, f.path, "too large, got " + s);
    return std::nullopt;
  }
  if (value == 0) {
    diag.add(f.mark, f.path, "must be greater than 0");
    return std::nullopt;
  }
  return value * factor;
}

}  // namespace pilotfish::config::detail
