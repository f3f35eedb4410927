#pragma once
// The files shared by dns_server.py and its two C++ drivers (the integration harness's DnsServer
// and the unit tests' DnsTestServer): header-only, no harness dependency.

#include <filesystem>
#include <fstream>
#include <string>

namespace pilotfish::testing::dns {

/// Replaces `dir`/records.json atomically (rename): the server's next query sees all of it.
inline void writeRecords(const std::string& dir, const std::string& json) {
  const std::string tmp = dir + "/records.json.tmp";
  std::ofstream(tmp) << json;
  std::filesystem::rename(tmp, dir + "/records.json");
}

/// Queries in `dir`/queries.log for `name` and `type` over `proto` ("udp", "tcp"; "" = both).
inline int countQueries(const std::string& dir, const std::string& name, const std::string& type,
                        const std::string& proto) {
  std::ifstream in(dir + "/queries.log");
  std::string p, n, t;
  int count = 0;
  while (in >> p >> n >> t) {
    if (n == name && t == type && (proto.empty() || p == proto)) ++count;
  }
  return count;
}

/// `records` (a JSON object) with "fail": {name: mode} added.
inline std::string withFailure(std::string records, const std::string& name,
                               const std::string& mode) {
  records.insert(records.find('{') + 1, "\"fail\": {\"" + name + "\": \"" + mode + "\"}, ");
  return records;
}

}  // namespace pilotfish::testing::dns
