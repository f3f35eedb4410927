#!/usr/bin/python3
"""A small authoritative DNS server for tests (python3 stdlib only), on UDP and TCP.

Usage: dns_server.py --records FILE [--port N] [--port-file FILE] [--log FILE]

It answers from FILE, a JSON object re-read for every query (tests replace it atomically with
rename to change the records between two queries):

  {
    "records": [
      {"name": "web.service.consul", "type": "SRV", "ttl": 5,
       "priority": 1, "weight": 10, "port": 8080, "target": "a.node.consul"},
      {"name": "a.node.consul", "type": "A", "ttl": 5, "address": "127.0.0.1"},
      {"name": "v6.test", "type": "AAAA", "address": "::1"},
      {"name": "alias.test", "type": "CNAME", "target": "a.node.consul"}
    ],
    "additional": true,     # SRV answers carry the targets' A/AAAA records (default false)
    "negative_ttl": 1,      # TTL and MINIMUM of the SOA sent with NXDOMAIN/NODATA (default 1)
    "fail": {"web.service.consul": "servfail"}   # or "*" for every name
  }

Failure modes ("fail"): servfail, refused (RCODE 2/5), timeout (no reply at all), garbage (a
reply whose header and question are right but whose answer section is not a DNS record),
truncate (over UDP: TC set and no records, so the client retries over TCP where the full answer
is sent).

A name that has no record of any type is NXDOMAIN; a name that has records, but none of the
type asked, is NODATA (NOERROR, empty answer); both carry an SOA in the authority section.
TTL defaults to 0 (Consul's default). Names are case-insensitive, written without the final dot.

Every query is appended to the --log FILE as "<udp|tcp> <name> <TYPE>" (flushed), so tests can
count queries. Once both sockets are bound the port is written to --port-file (atomically) and
"ready <port>" is printed.
"""

import argparse
import ipaddress
import json
import os
import socket
import struct
import sys
import threading

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "AAAA": 28, "SRV": 33, "OPT": 41}
TYPE_NAMES = {v: k for k, v in TYPES.items()}

log_lock = threading.Lock()


def encode_name(name):
    out = b""
    for label in name.strip(".").split(".") if name.strip(".") else []:
        raw = label.encode()
        out += bytes([len(raw)]) + raw
    return out + b"\x00"


def read_query(data):
    """(id, flags, question bytes, name, qtype) of a query, or None."""
    if len(data) < 12:
        return None
    qid, flags, qdcount = struct.unpack("!HHH", data[:6])
    if qdcount < 1:
        return None
    pos, labels = 12, []
    while True:
        if pos >= len(data):
            return None
        n = data[pos]
        if n == 0:
            pos += 1
            break
        if n & 0xC0:
            return None
        labels.append(data[pos + 1:pos + 1 + n].decode("ascii", "replace"))
        pos += 1 + n
    if pos + 4 > len(data):
        return None
    qtype = struct.unpack("!H", data[pos:pos + 2])[0]
    return qid, flags, data[12:pos + 4], ".".join(labels).lower(), qtype


def rr(name, rtype, ttl, rdata):
    return encode_name(name) + struct.pack("!HHIH", rtype, 1, ttl, len(rdata)) + rdata


def rdata_of(rec):
    t = rec["type"]
    if t == "A":
        return ipaddress.IPv4Address(rec["address"]).packed
    if t == "AAAA":
        return ipaddress.IPv6Address(rec["address"]).packed
    if t == "CNAME":
        return encode_name(rec["target"])
    if t == "SRV":
        return struct.pack("!HHH", rec.get("priority", 0), rec.get("weight", 0),
                           rec["port"]) + encode_name(rec["target"])
    raise ValueError("unknown type " + t)


def record_rr(rec):
    return rr(rec["name"], TYPES[rec["type"]], rec.get("ttl", 0), rdata_of(rec))


def load(path):
    with open(path) as f:
        cfg = json.load(f)
    for rec in cfg.get("records", []):
        rec["name"] = rec["name"].strip(".").lower()
        if "target" in rec:
            rec["target"] = rec["target"].strip(".").lower()
    return cfg


def answer(data, proto, args):
    q = read_query(data)
    if q is None:
        return None
    qid, qflags, question, qname, qtype = q
    with log_lock, open(args.log, "a") as f:
        f.write("%s %s %s\n" % (proto, qname, TYPE_NAMES.get(qtype, str(qtype))))
        f.flush()
    cfg = load(args.records)
    fails = cfg.get("fail", {})
    mode = fails.get(qname, fails.get("*"))
    rd = qflags & 0x0100

    def reply(rcode, answers=(), authority=(), additional=(), tc=False, body=None):
        flags = 0x8000 | 0x0400 | rd | (0x0200 if tc else 0) | rcode
        header = struct.pack("!HHHHHH", qid, flags, 1, len(answers), len(authority), len(additional))
        return header + question + (body if body is not None else b"".join(list(answers) + list(authority) + list(additional)))

    if mode == "timeout":
        return None
    if mode == "servfail":
        return reply(2)
    if mode == "refused":
        return reply(5)
    if mode == "garbage":
        # ancount = 1, then a name whose compression pointer points forward, then junk.
        flags = 0x8000 | 0x0400 | rd
        return struct.pack("!HHHHHH", qid, flags, 1, 1, 0, 0) + question + b"\xc0\xff\x00\x01garbage"
    if mode == "truncate" and proto == "udp":
        return reply(0, tc=True)

    records = cfg.get("records", [])
    neg = cfg.get("negative_ttl", 1)
    soa = rr(qname.split(".", 1)[-1] if "." in qname else qname, TYPES["SOA"], neg,
             encode_name("ns.test") + encode_name("hostmaster.test") +
             struct.pack("!IIIII", 1, 3600, 600, 86400, neg))
    answers, owner = [], qname
    for _ in range(8):
        matching = [r for r in records if r["name"] == owner and TYPES[r["type"]] == qtype]
        if matching:
            answers += [record_rr(r) for r in matching]
            break
        cname = [r for r in records if r["name"] == owner and r["type"] == "CNAME"]
        if not cname:
            break
        answers.append(record_rr(cname[0]))
        owner = cname[0]["target"]
    if not answers:
        exists = any(r["name"] == qname for r in records)
        return reply(0 if exists else 3, authority=[soa])
    additional = []
    if qtype == TYPES["SRV"] and cfg.get("additional", False):
        targets = {r["target"] for r in records if r["name"] == owner and r["type"] == "SRV"}
        additional = [record_rr(r) for r in records
                      if r["name"] in targets and r["type"] in ("A", "AAAA")]
    return reply(0, answers, [], additional)


def serve_udp(sock, args):
    while True:
        data, peer = sock.recvfrom(65535)
        try:
            out = answer(data, "udp", args)
        except Exception as e:  # a broken records file must not kill the server
            print("error: %r" % e, flush=True)
            continue
        if out is not None:
            sock.sendto(out, peer)


def read_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def serve_tcp_conn(conn, args):
    with conn:
        while True:
            head = read_exact(conn, 2)
            if head is None:
                return
            data = read_exact(conn, struct.unpack("!H", head)[0])
            if data is None:
                return
            try:
                out = answer(data, "tcp", args)
            except Exception as e:
                print("error: %r" % e, flush=True)
                continue
            if out is not None:
                conn.sendall(struct.pack("!H", len(out)) + out)


def serve_tcp(sock, args):
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=serve_tcp_conn, args=(conn, args), daemon=True).start()


def bind(port):
    for _ in range(50):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", port))
        actual = udp.getsockname()[1]
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            tcp.bind(("127.0.0.1", actual))
        except OSError:
            udp.close()
            tcp.close()
            if port != 0:
                raise
            continue
        tcp.listen(64)
        return udp, tcp, actual
    raise OSError("no port free for both UDP and TCP")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--records", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--log", default=os.devnull)
    args = p.parse_args()
    udp, tcp, port = bind(args.port)
    threading.Thread(target=serve_udp, args=(udp, args), daemon=True).start()
    threading.Thread(target=serve_tcp, args=(tcp, args), daemon=True).start()
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(port))
        os.rename(tmp, args.port_file)
    print("ready %d" % port, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    sys.exit(main())
