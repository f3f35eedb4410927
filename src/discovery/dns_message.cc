#include "discovery/dns_message.h"

#include <arpa/inet.h>

#include <cstdio>

namespace pilotfish::discovery::dns {

namespace {

constexpr std::size_t kHeaderSize = 12;
constexpr std::size_t kMaxNameWire = 255;  // RFC 1035 2.3.4, length octets included

class Reader {
 public:
  Reader(std::span<const uint8_t> data, std::string* why) : data_(data), why_(why) {}

  bool fail(std::string text) {
    if (why_ != nullptr) *why_ = std::move(text);
    return false;
  }
  std::size_t pos() const { return pos_; }
  std::size_t left() const { return data_.size() - pos_; }
  void skip(std::size_t n) { pos_ += n; }
  const uint8_t* at(std::size_t p) const { return data_.data() + p; }

  bool u16(uint16_t& v) {
    if (left() < 2) return false;
    v = static_cast<uint16_t>(data_[pos_] << 8 | data_[pos_ + 1]);
    pos_ += 2;
    return true;
  }
  bool u32(uint32_t& v) {
    if (left() < 4) return false;
    v = uint32_t{data_[pos_]} << 24 | uint32_t{data_[pos_ + 1]} << 16 |
        uint32_t{data_[pos_ + 2]} << 8 | uint32_t{data_[pos_ + 3]};
    pos_ += 4;
    return true;
  }

  // Reads a (possibly compressed) name at the current position into `out` and moves past it.
  // Every compression pointer must point before the start of the labels it continues, so the
  // read positions strictly decrease at each jump and a loop is impossible; the 255-octet
  // limit bounds the work besides.
  bool name(std::string& out, const char* where) {
    out.clear();
    std::size_t p = pos_;
    std::size_t segment_start = p;
    std::size_t wire = 0;
    bool jumped = false;
    for (;;) {
      if (p >= data_.size()) return fail(std::string("name runs past the end in ") + where);
      const uint8_t len = data_[p];
      if ((len & 0xC0) == 0xC0) {
        if (p + 1 >= data_.size()) return fail(std::string("name runs past the end in ") + where);
        const std::size_t target = (std::size_t{len & 0x3Fu} << 8) | data_[p + 1];
        if (target >= segment_start) {
          return fail(std::string("name compression pointer does not point backwards in ") + where);
        }
        if (!jumped) pos_ = p + 2;
        jumped = true;
        p = segment_start = target;
        continue;
      }
      if ((len & 0xC0) != 0) return fail(std::string("unknown label type in ") + where);
      wire += 1 + len;
      if (wire > kMaxNameWire) return fail(std::string("name longer than 255 octets in ") + where);
      if (len == 0) {
        if (!jumped) pos_ = p + 1;
        return true;
      }
      if (p + 1 + len > data_.size()) {
        return fail(std::string("name runs past the end in ") + where);
      }
      if (!out.empty()) out.push_back('.');
      for (std::size_t i = p + 1; i <= p + len; ++i) appendNameByte(out, data_[i]);
      p += 1 + len;
    }
  }

 private:
  static void appendNameByte(std::string& out, uint8_t c) {
    if (c >= 'A' && c <= 'Z') {
      out.push_back(static_cast<char>(c - 'A' + 'a'));
    } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\%03u", unsigned{c});
      out += buf;
    }
  }

  std::span<const uint8_t> data_;
  std::string* why_;
  std::size_t pos_ = 0;
};

bool readRecord(Reader& r, Record& rec, const std::string& where) {
  if (!r.name(rec.name, where.c_str())) return false;
  uint16_t rdlength = 0;
  if (!r.u16(rec.type) || !r.u16(rec.klass) || !r.u32(rec.ttl) || !r.u16(rdlength)) {
    return r.fail("truncated in " + where);
  }
  // RFC 2181 8: a TTL with the top bit set is treated as zero.
  if (rec.ttl > 0x7FFFFFFFu) rec.ttl = 0;
  if (rdlength > r.left()) return r.fail("rdata runs past the end in " + where);
  const std::size_t start = r.pos();
  const std::size_t end = start + rdlength;
  auto badLength = [&](const char* type) {
    return r.fail(std::string(type) + " record with rdlength " + std::to_string(rdlength) + " in " +
                  where);
  };
  // Reads a name that must end exactly at the end of the rdata.
  auto rdataName = [&](std::string& out, const char* type) {
    if (!r.name(out, where.c_str())) return false;
    if (r.pos() != end) return badLength(type);
    return true;
  };
  if (rec.klass != kClassIn) {
    r.skip(rdlength);
    return true;
  }
  switch (rec.type) {
    case kTypeA:
    case kTypeAaaa: {
      const bool v4 = rec.type == kTypeA;
      if (rdlength != (v4 ? 4 : 16)) return badLength(v4 ? "A" : "AAAA");
      char buf[INET6_ADDRSTRLEN];
      if (inet_ntop(v4 ? AF_INET : AF_INET6, r.at(start), buf, sizeof buf) == nullptr) {
        return badLength(v4 ? "A" : "AAAA");
      }
      rec.address = buf;
      r.skip(rdlength);
      return true;
    }
    case kTypeSrv:
      if (rdlength < 7) return badLength("SRV");
      r.u16(rec.priority);
      r.u16(rec.weight);
      r.u16(rec.port);
      return rdataName(rec.target, "SRV");
    case kTypeCname: return rdataName(rec.target, "CNAME");
    case kTypeSoa: {
      std::string ignored;
      if (!r.name(ignored, where.c_str()) || !r.name(ignored, where.c_str())) return false;
      uint32_t serial, refresh, retry, expire;
      if (r.pos() + 20 != end || !r.u32(serial) || !r.u32(refresh) || !r.u32(retry) ||
          !r.u32(expire) || !r.u32(rec.soa_minimum)) {
        return badLength("SOA");
      }
      return true;
    }
    default: r.skip(rdlength); return true;
  }
}

}  // namespace

bool parseMessage(std::span<const uint8_t> data, Message& out, std::string* why) {
  out = Message{};
  Reader r(data, why);
  uint16_t flags = 0, qdcount = 0, ancount = 0, nscount = 0, arcount = 0;
  if (!r.u16(out.id) || !r.u16(flags) || !r.u16(qdcount) || !r.u16(ancount) || !r.u16(nscount) ||
      !r.u16(arcount)) {
    return r.fail("shorter than a DNS header (" + std::to_string(data.size()) + " bytes)");
  }
  out.response = (flags & 0x8000) != 0;
  out.truncated = (flags & 0x0200) != 0;
  out.rcode = static_cast<uint8_t>(flags & 0x000F);
  const std::size_t records = std::size_t{ancount} + nscount + arcount;
  if (records > kMaxRecords) {
    return r.fail("too many records (" + std::to_string(records) + ", at most " +
                  std::to_string(kMaxRecords) + ")");
  }
  // A record takes at least 11 octets: refuse counts the message cannot hold before reserving.
  if (records * 11 > data.size() - kHeaderSize) {
    return r.fail("record counts (" + std::to_string(records) + ") exceed the message size");
  }
  for (uint16_t i = 0; i < qdcount; ++i) {
    std::string name;
    uint16_t qtype = 0, qclass = 0;
    if (!r.name(name, "question")) return false;
    if (!r.u16(qtype) || !r.u16(qclass)) return r.fail("truncated in question");
    if (i == 0) {
      out.question_name = std::move(name);
      out.question_type = qtype;
    }
  }
  struct Section {
    uint16_t count;
    std::vector<Record>* into;
    const char* name;
  };
  const Section sections[] = {{ancount, &out.answers, "answer"},
                              {nscount, &out.authority, "authority"},
                              {arcount, &out.additional, "additional"}};
  for (const auto& s : sections) {
    s.into->reserve(s.count);
    for (uint16_t i = 0; i < s.count; ++i) {
      Record rec;
      if (!readRecord(r, rec, std::string(s.name) + " " + std::to_string(i + 1))) return false;
      s.into->push_back(std::move(rec));
    }
  }
  if (r.left() != 0) {
    return r.fail(std::to_string(r.left()) + " bytes after the last record");
  }
  return true;
}

}  // namespace pilotfish::discovery::dns
