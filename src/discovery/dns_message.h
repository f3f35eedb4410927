#pragma once
// A bounded, strict reader of DNS response messages (RFC 1035 section 4, SRV from RFC 2782,
// AAAA from RFC 3596), for the DNS watcher. c-ares 1.18's ares_parse_srv_reply drops TTLs and
// the additional section, which the watcher needs, so the raw answer is read here.
// Pure functions on bytes; no allocation beyond the result; safe on hostile input.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace pilotfish::discovery::dns {

inline constexpr uint16_t kTypeA = 1;
inline constexpr uint16_t kTypeCname = 5;
inline constexpr uint16_t kTypeSoa = 6;
inline constexpr uint16_t kTypeAaaa = 28;
inline constexpr uint16_t kTypeSrv = 33;
inline constexpr uint16_t kClassIn = 1;

inline constexpr uint8_t kRcodeNoError = 0;
inline constexpr uint8_t kRcodeServFail = 2;
inline constexpr uint8_t kRcodeNxDomain = 3;

/// One resource record. Names are lower-cased, without the trailing dot ("" is the root);
/// bytes that are not letters, digits, '-' or '_' are written as \DDD (so a '.' inside a label
/// never looks like a label separator).
struct Record {
  std::string name;
  uint16_t type = 0;
  uint16_t klass = 0;
  uint32_t ttl = 0;
  std::string address;       ///< A/AAAA: the IP as text ("10.0.0.1", "2001:db8::1")
  std::string target;        ///< SRV target, CNAME canonical name ("" = the root)
  uint16_t priority = 0;     ///< SRV
  uint16_t weight = 0;       ///< SRV
  uint16_t port = 0;         ///< SRV
  uint32_t soa_minimum = 0;  ///< SOA MINIMUM (the negative-caching TTL, RFC 2308)
};

struct Message {
  uint16_t id = 0;
  bool response = false;   ///< QR
  bool truncated = false;  ///< TC
  uint8_t rcode = 0;
  std::string question_name;  ///< of the first question ("" when there is none)
  uint16_t question_type = 0;
  std::vector<Record> answers;
  std::vector<Record> authority;
  std::vector<Record> additional;
};

/// At most this many records (answer + authority + additional) are accepted in one message;
/// a message announcing more is refused whole (the watcher rejects the answer).
inline constexpr std::size_t kMaxRecords = 4096;

/// Parses a whole message. Returns false with `*why` set ("truncated in answer 3", "name
/// compression loop", "A record with rdlength 5", ...) when the bytes are not one well-formed
/// message: nothing of a malformed message is used.
bool parseMessage(std::span<const uint8_t> data, Message& out, std::string* why);

}  // namespace pilotfish::discovery::dns
