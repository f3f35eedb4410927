#pragma once
// From parsed DNS records to a watcher Answer: CNAME chains, SRV priority and weight mapped to
// pilotfish's model (see docs/discovery/dns.md). Pure functions; control thread.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "discovery/dns_message.h"
#include "pilotfish/discovery/watcher.h"

namespace pilotfish::discovery::dns {

/// At most this many CNAMEs are followed from a name.
inline constexpr int kMaxCnameChain = 8;

/// The records of `type` that answer `name` in `records`, following CNAME records found there.
/// Lowers `ttl` to the smallest TTL of the records used (CNAMEs included).
std::vector<const Record*> recordsFor(const std::vector<Record>& records, const std::string& name,
                                      uint16_t type, uint32_t& ttl);

/// The negative-caching TTL of an NXDOMAIN/NODATA answer (RFC 2308 5: min of the SOA's TTL and
/// its MINIMUM), or nullopt when the authority section holds no SOA.
std::optional<uint32_t> negativeTtl(const Message& message);

/// One instance per address (A/AAAA answers), all with `port`, id "ip:port", weight 1.
Answer addressAnswer(const std::vector<std::string>& addresses, uint16_t port);

/// The instances of an SRV RRset, given every target's addresses (lower-cased names; a target
/// missing from the map has none). Only the lowest priority with at least one usable record is
/// used; inside it, weights follow RFC 2782 (see the .cc). Records of that priority with no
/// address or port 0 are skipped and counted; target "." (service decidedly not available) is
/// left out without counting.
Answer srvAnswer(const std::vector<Record>& srv,
                 const std::map<std::string, std::vector<std::string>>& addresses);

}  // namespace pilotfish::discovery::dns
