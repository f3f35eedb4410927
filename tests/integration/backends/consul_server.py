#!/usr/bin/env python3
"""A Consul test server for pilotfish's tests (Python 3 stdlib only).

No Consul binary is packaged for these machines, so this implements the parts of Consul's HTTP
API described in ../shared/contracts/consul.md, following Consul's documentation (not our
client). One agent, one node per datacenter, an in-memory catalog.

Usage:
    python3 consul_server.py --port N [--datacenter dc1] [--extra-dc dc2 ...]
                             [--node-address 127.0.0.1] [--token T] [--read-token R]
                             [--tls-cert C --tls-key K [--tls-client-ca CA]] [--verbose]

Prints "READY <port>" on stdout once it accepts connections (--port 0 picks a port).

Consul API
    GET /v1/health/service/<name>   ?passing ?tag=t (repeatable, all must match, case-insensitive)
                                    ?dc=<dc> (unknown: 404 "No path to datacenter")
                                    ?index=<n>&wait=<dur> blocking query; ?stale ?consistent
                                    ?cached accepted
    GET /v1/catalog/services        blocking too
    GET /v1/status/leader           "127.0.0.1:8300" ("" without a leader)
    PUT /v1/agent/service/register  body as Consul's (ID, Name, Tags, Address, Port, Meta,
                                    Weights, Check, Checks); ?replace-existing-checks
    PUT /v1/agent/service/deregister/<id>
    PUT /v1/agent/check/pass|warn|fail/<check_id>?note=..
    PUT /v1/agent/check/update/<check_id>   {"Status": .., "Output": ..}
    PUT /v1/agent/service/maintenance/<id>?enable=true|false&reason=..

Blocking queries (Consul's algorithm): a query with index > 0 is held while the index of what it
reads is <= that index, up to `wait` (Go duration, default 5m, capped at 10m) plus a random
jitter of up to wait/16, then answered with the full current result. The index of
/v1/health/service/<name> is the raft index of the last write that touched that service (the
global index when the service never existed). Every write increments the global index. Like
Consul's servers, an index of 0 is answered as 1 (unless /__test/zero-index says otherwise).

Headers on reads: X-Consul-Index, X-Consul-KnownLeader, X-Consul-LastContact. Bodies over 2048
bytes are sent chunked, as Go's net/http (Consul's server) does.

ACLs (--token): default policy deny. --token is a management token; --read-token may read
everything but write nothing. A token given (X-Consul-Token, or Authorization: Bearer) that is
not one of them: 403 "ACL not found". Anonymous (no token) reads are filtered (an empty result
with X-Consul-Results-Filtered-By-ACLs: true, as Consul does); any write without the right:
403 "Permission denied".

Checks: TTL checks start critical (or the definition's Status) and turn critical when their TTL
passes without an update; DeregisterCriticalServiceAfter (minimum 1m) deregisters a service whose
check stayed critical that long. HTTP/TCP/script checks are accepted but not executed: they keep
the definition's Status (default critical). The node's serfHealth check is always passing.

Test control (not Consul; POST or PUT, answers JSON):
    /__test/index?set=N              restore-like: the global index becomes N and every service
                                     index min(itself, N); blocked queries re-evaluate
    /__test/zero-index?enable=1|0    health answers carry X-Consul-Index: 0 and block as if the
                                     data's index were 0 (return on the next write or at wait)
    /__test/fail?count=N&status=500|429   the next N health answers are that error
    /__test/garbage?count=N          the next N health answers are 200 with the request body
                                     (default: "this is not json") as their body
    /__test/inject?service=S&id=X[&dc=D]  body: raw text spliced verbatim as one element of S's
                                     health answer (filters apply when it parses as JSON)
    /__test/uninject?service=S&id=X[&dc=D]
    /__test/node?address=A[&dc=D]    the node's Address (what an empty Service.Address means)
    /__test/leader?known=true|false  without a leader, consistent reads fail 500
                                     "No cluster leader"; ?stale reads answer with
                                     X-Consul-KnownLeader: false
    /__test/register?dc=D            body as /v1/agent/service/register, into datacenter D
    /__test/wake                     answers every blocked query now (as a leader change does)
    GET /__test/requests             every /v1/health request so far: [{"path", "query",
                                     "token", "t"}], t in seconds (monotonic)
    GET /__test/state                {"index", "blocked", "services": {dc: [ids]}}
"""

import argparse
import json
import os
import random
import re
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERBOSE = False
MAX_WAIT = 600.0
DEFAULT_WAIT = 300.0
GO_CHUNKING_BUFFER = 2048


def log(*args):
    if VERBOSE:
        print(*args, file=sys.stderr, flush=True)


class HttpError(Exception):
    def __init__(self, status, text):
        super().__init__(text)
        self.status = status
        self.text = text


_DUR_RE = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DUR_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text):
    """Go's time.ParseDuration (unsigned): '10s', '5m', '1m30s', '250ms'; None when invalid."""
    if text == "0":
        return 0.0
    pos, total = 0, 0.0
    while pos < len(text):
        m = _DUR_RE.match(text, pos)
        if not m:
            return None
        total += float(m.group(1)) * _DUR_UNITS[m.group(2)]
        pos = m.end()
    return total if text else None


class Catalog:
    """Everything under one lock; `cond` wakes blocked queries on every change."""

    def __init__(self, datacenters, node_address):
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.index = 10
        self.generation = 0  # bumped on every write (for zero-index mode)
        self.wakes = 0  # bumped by /__test/wake: every blocked query answers
        self.dcs = {}
        for i, dc in enumerate(datacenters):
            self.dcs[dc] = {
                "node": {"ID": "40e4a748-2192-161a-0510-9bf59fe950b%d" % i, "Node": "node-%s" % dc,
                         "Address": node_address, "Datacenter": dc,
                         "TaggedAddresses": {"lan": node_address, "wan": node_address},
                         "Meta": {"consul-network-segment": ""}, "CreateIndex": 5,
                         "ModifyIndex": 5},
                "services": {},   # id -> service dict
                "checks": {},     # check id -> check dict (+ private keys starting with '_')
                "injected": {},   # service name -> {id: raw text}
                "svc_index": {},  # service name -> index of the last write touching it
            }
        self.zero_index = False
        self.fail = []  # statuses of the next failing answers
        self.garbage = []  # bodies of the next garbage answers
        self.known_leader = True
        self.requests = []
        self.blocked = 0

    # --- writes (lock held) ---
    def bump(self, dc, names):
        self.index += 1
        d = self.dcs[dc]
        for n in names:
            d["svc_index"][n] = self.index
        self.generation += 1
        self.cond.notify_all()
        return self.index

    def bump_all(self, dc):
        d = self.dcs[dc]
        names = set(s["Service"] for s in d["services"].values()) | set(d["injected"])
        names |= set(d["svc_index"])
        return self.bump(dc, names)

    def service_index(self, dc, name):
        return self.dcs[dc]["svc_index"].get(name, self.index)


def service_status(checks):
    order = {"passing": 0, "warning": 1, "critical": 2}
    worst = "passing"
    for c in checks:
        if order.get(c["Status"], 2) > order[worst]:
            worst = c["Status"]
    return worst


def public_check(c):
    return {k: v for k, v in c.items() if not k.startswith("_")}


class Server:
    def __init__(self, args):
        dcs = [args.datacenter] + (args.extra_dc or [])
        self.local_dc = args.datacenter
        self.cat = Catalog(dcs, args.node_address)
        self.token = args.token
        self.read_token = args.read_token
        threading.Thread(target=self.reaper, daemon=True).start()

    # --- ACL ---
    def acl(self, headers):
        """'write', 'read', or None (anonymous). Raises 403 for an unknown token."""
        if not self.token:
            return "write"
        tok = headers.get("X-Consul-Token")
        auth = headers.get("Authorization")
        if not tok and auth and auth.startswith("Bearer "):
            tok = auth[len("Bearer "):].strip()
        if not tok:
            return None
        if tok == self.token:
            return "write"
        if self.read_token and tok == self.read_token:
            return "read"
        raise HttpError(403, "ACL not found")

    def need_write(self, headers):
        if self.acl(headers) != "write":
            raise HttpError(403, "Permission denied")

    # --- TTL checks and the critical-service reaper ---
    def reaper(self):
        while True:
            time.sleep(0.05)
            now = time.monotonic()
            with self.cat.lock:
                for dc, d in self.cat.dcs.items():
                    for c in list(d["checks"].values()):
                        ttl = c.get("_ttl")
                        if ttl and c["Status"] != "critical" and now >= c["_ttl_deadline"]:
                            c["Status"] = "critical"
                            c["Output"] = "TTL expired"
                            c["_critical_since"] = now
                            c["ModifyIndex"] = self.cat.bump(dc, [c["ServiceName"]])
                        after = c.get("_deregister_after")
                        since = c.get("_critical_since")
                        if (after and c["Status"] == "critical" and since is not None
                                and now - since >= after and c["ServiceID"] in d["services"]):
                            self.deregister_locked(dc, c["ServiceID"])

    # --- agent API ---
    def register(self, dc, body, query):
        try:
            svc = json.loads(body or b"null")
        except ValueError as e:
            raise HttpError(400, "Request decode failed: %s" % e)
        if not isinstance(svc, dict):
            raise HttpError(400, "Request decode failed: not an object")
        name = svc.get("Name")
        if not name or not isinstance(name, str):
            raise HttpError(400, "Invalid Service Meta: missing service name")
        sid = svc.get("ID") or name
        port = svc.get("Port", 0)
        if not isinstance(port, int) or port < 0 or port > 65535:
            raise HttpError(400, "Invalid service port")
        weights = svc.get("Weights") or {"Passing": 1, "Warning": 1}
        checks_def = []
        if svc.get("Check"):
            checks_def.append(svc["Check"])
        checks_def += svc.get("Checks") or []
        for cd in checks_def:
            if not isinstance(cd, dict):
                raise HttpError(400, "Request decode failed: a check is not an object")
            if cd.get("TTL") and parse_duration(cd["TTL"]) is None:
                raise HttpError(400, "Invalid check: bad TTL %r" % cd["TTL"])
        now = time.monotonic()
        with self.cat.lock:
            d = self.cat.dcs[dc]
            old = d["services"].get(sid)
            tags = svc.get("Tags") or []
            replace = query.get("replace-existing-checks", ["false"])[0] not in ("false", "0")
            names = [name] + ([old["Service"]] if old else [])
            idx = self.cat.bump(dc, names)
            d["services"][sid] = {
                "ID": sid, "Service": name, "Tags": tags, "Address": svc.get("Address", ""),
                "TaggedAddresses": svc.get("TaggedAddresses") or {},
                "Meta": svc.get("Meta") or {}, "Port": port, "Weights": weights,
                "EnableTagOverride": bool(svc.get("EnableTagOverride", False)),
                "Proxy": {"Mode": "", "MeshGateway": {}, "Expose": {}}, "Connect": {},
                "PeerName": "", "CreateIndex": old["CreateIndex"] if old else idx,
                "ModifyIndex": idx,
            }
            if replace or old:
                for cid in [k for k, c in d["checks"].items()
                            if c["ServiceID"] == sid and not k.startswith("_service_maint")]:
                    if replace or any(self.check_id(sid, cd, i, len(checks_def)) == cid
                                      for i, cd in enumerate(checks_def)):
                        del d["checks"][cid]
            for i, cd in enumerate(checks_def):
                cid = self.check_id(sid, cd, i, len(checks_def))
                ttl = parse_duration(cd["TTL"]) if cd.get("TTL") else None
                status = cd.get("Status") or "critical"
                after = cd.get("DeregisterCriticalServiceAfter")
                after_s = parse_duration(after) if after else None
                if after_s is not None:
                    after_s = max(after_s, 60.0)
                d["checks"][cid] = {
                    "Node": d["node"]["Node"], "CheckID": cid,
                    "Name": cd.get("Name") or "Service '%s' check" % name,
                    "Status": status, "Notes": cd.get("Notes", ""), "Output": "",
                    "ServiceID": sid, "ServiceName": name, "ServiceTags": tags,
                    "Type": "ttl" if ttl else ("http" if cd.get("HTTP") else
                                              ("tcp" if cd.get("TCP") else "")),
                    "Interval": cd.get("Interval", ""), "Timeout": cd.get("Timeout", ""),
                    "CreateIndex": idx, "ModifyIndex": idx,
                    "_ttl": ttl, "_ttl_deadline": now + (ttl or 0),
                    "_deregister_after": after_s,
                    "_critical_since": now if status == "critical" else None,
                }
            for c in d["checks"].values():
                if c["ServiceID"] == sid:
                    c["ServiceTags"] = tags
                    c["ServiceName"] = name

    @staticmethod
    def check_id(sid, cd, i, n):
        if cd.get("CheckID") or cd.get("ID"):
            return cd.get("CheckID") or cd.get("ID")
        return "service:%s" % sid if n == 1 else "service:%s:%d" % (sid, i + 1)

    def deregister_locked(self, dc, sid):
        d = self.cat.dcs[dc]
        svc = d["services"].pop(sid, None)
        if svc is None:
            return
        for cid in [k for k, c in d["checks"].items() if c["ServiceID"] == sid]:
            del d["checks"][cid]
        self.cat.bump(dc, [svc["Service"]])

    def deregister(self, dc, sid):
        with self.cat.lock:
            self.deregister_locked(dc, sid)

    def update_check(self, dc, cid, status, output):
        if status not in ("passing", "warning", "critical"):
            raise HttpError(400, "Invalid check status: %r" % status)
        with self.cat.lock:
            d = self.cat.dcs[dc]
            c = d["checks"].get(cid)
            if c is None:
                raise HttpError(404, 'Unknown check ID "%s". Ensure that the check ID is passed, '
                                'not the check name.' % cid)
            now = time.monotonic()
            if c.get("_ttl"):
                c["_ttl_deadline"] = now + c["_ttl"]
            changed = c["Status"] != status or c["Output"] != output
            if status == "critical" and c["Status"] != "critical":
                c["_critical_since"] = now
            elif status != "critical":
                c["_critical_since"] = None
            c["Status"] = status
            c["Output"] = output
            if changed:  # Consul writes a TTL check to the catalog only when it changed
                c["ModifyIndex"] = self.cat.bump(dc, [c["ServiceName"]])

    def maintenance(self, dc, sid, enable, reason):
        with self.cat.lock:
            d = self.cat.dcs[dc]
            svc = d["services"].get(sid)
            if svc is None:
                raise HttpError(404, 'Unknown service ID "%s"' % sid)
            cid = "_service_maintenance:%s" % sid
            if enable and cid not in d["checks"]:
                idx = self.cat.bump(dc, [svc["Service"]])
                d["checks"][cid] = {
                    "Node": d["node"]["Node"], "CheckID": cid, "Name": "Service Maintenance Mode",
                    "Status": "critical",
                    "Notes": reason or "Maintenance mode is enabled for this service, but no "
                                       "reason was provided. This is a default message.",
                    "Output": "", "ServiceID": sid, "ServiceName": svc["Service"],
                    "ServiceTags": svc["Tags"], "Type": "maintenance", "CreateIndex": idx,
                    "ModifyIndex": idx,
                }
            elif not enable and cid in d["checks"]:
                del d["checks"][cid]
                self.cat.bump(dc, [svc["Service"]])

    # --- reads ---
    def health_entries(self, dc, name, passing, tags):
        d = self.cat.dcs[dc]
        node_check = {
            "Node": d["node"]["Node"], "CheckID": "serfHealth", "Name": "Serf Health Status",
            "Status": "passing", "Notes": "", "Output": "Agent alive and reachable",
            "ServiceID": "", "ServiceName": "", "ServiceTags": [], "Type": "",
            "CreateIndex": 6, "ModifyIndex": 6,
        }
        out = []
        for sid in sorted(d["services"]):
            svc = d["services"][sid]
            if svc["Service"] != name:
                continue
            lower = [t.lower() for t in svc["Tags"]]
            if any(t.lower() not in lower for t in tags):
                continue
            checks = [node_check] + [public_check(c) for _, c in sorted(d["checks"].items())
                                     if c["ServiceID"] == sid]
            if passing and service_status(checks) != "passing":
                continue
            out.append(json.dumps({"Node": d["node"], "Service": svc, "Checks": checks}))
        for _, raw in sorted(d["injected"].get(name, {}).items()):
            try:
                e = json.loads(raw)
                svc_tags = [t.lower() for t in (e.get("Service") or {}).get("Tags") or []]
                if any(t.lower() not in svc_tags for t in tags):
                    continue
                if passing and service_status(e.get("Checks") or []) != "passing":
                    continue
            except (ValueError, AttributeError, TypeError):
                pass  # not an entry Consul could have written: always served
            out.append(raw)
        return "[" + ",".join(out) + "]"

    def block(self, min_index, wait, current):
        """Holds (lock held) while current() <= min_index, up to wait + jitter."""
        if min_index <= 0:
            return
        wait = min(wait, MAX_WAIT)
        deadline = time.monotonic() + wait + random.uniform(0, wait / 16.0)
        gen, wakes = self.cat.generation, self.cat.wakes
        self.cat.blocked += 1
        try:
            while True:
                if self.cat.wakes != wakes:
                    return
                if self.cat.zero_index:
                    if self.cat.generation != gen:
                        return
                elif current() > min_index:
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self.cat.cond.wait(left)
        finally:
            self.cat.blocked -= 1


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "consul-test-server"
    srv = None  # Server

    def log_message(self, fmt, *args):
        log("%s - %s" % (self.address_string(), fmt % args))

    def send(self, status, body, headers=None, ctype="application/json"):
        data = body.encode() if isinstance(body, str) else body
        # Consul is a Go net/http server: a body larger than its 2048-byte chunking buffer goes
        # out chunked (HTTP/1.1), a smaller one with Content-Length.
        chunked = len(data) > GO_CHUNKING_BUFFER and self.request_version == "HTTP/1.1"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(data)))
        self.send_header("Vary", "Accept-Encoding")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command == "HEAD":
            return
        if not chunked:
            self.wfile.write(data)
            return
        for i in range(0, len(data), GO_CHUNKING_BUFFER):
            part = data[i:i + GO_CHUNKING_BUFFER]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
        self.wfile.write(b"0\r\n\r\n")

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def dispatch(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        path = urllib.parse.unquote(url.path)
        try:
            data = self.body()
            if path.startswith("/__test/"):
                return self.control(path[len("/__test/"):], query, data)
            if path.startswith("/v1/agent/") and self.command not in ("PUT", "POST"):
                raise HttpError(405, "method %s not allowed" % self.command)
            if path.startswith("/v1/agent/"):
                return self.agent(path[len("/v1/agent/"):], query, data)
            if self.command != "GET":
                raise HttpError(405, "method %s not allowed" % self.command)
            if path.startswith("/v1/health/service/"):
                return self.health(path[len("/v1/health/service/"):], query)
            if path == "/v1/catalog/services":
                return self.catalog_services(query)
            if path == "/v1/status/leader":
                with self.srv.cat.lock:
                    known = self.srv.cat.known_leader
                return self.send(200, json.dumps("127.0.0.1:8300" if known else ""))
            raise HttpError(404, "")
        except HttpError as e:
            self.send(e.status, e.text, ctype="text/plain; charset=utf-8")

    def dc_of(self, query):
        dc = query.get("dc", [""])[0] or self.srv.local_dc
        if dc not in self.srv.cat.dcs:
            raise HttpError(404, "No path to datacenter")
        return dc

    def read_meta(self, query, index):
        cat = self.srv.cat
        stale = "stale" in query
        if not cat.known_leader and not stale:
            raise HttpError(500, "No cluster leader")
        return {"X-Consul-Index": str(index),
                "X-Consul-KnownLeader": "true" if cat.known_leader else "false",
                "X-Consul-LastContact": "0"}

    def blocking_args(self, query):
        try:
            index = int(query.get("index", ["0"])[0] or 0)
        except ValueError:
            raise HttpError(400, "Invalid index")
        wait = DEFAULT_WAIT
        if "wait" in query:
            wait = parse_duration(query["wait"][0])
            if wait is None:
                raise HttpError(400, "Invalid wait time")
        return index, wait

    def health(self, name, query):
        srv, cat = self.srv, self.srv.cat
        tok = self.headers.get("X-Consul-Token") or self.headers.get("Authorization") or ""
        with cat.lock:
            cat.requests.append({"path": self.path.split("?")[0], "query": query,
                                 "token": tok, "t": time.monotonic()})
        access = srv.acl(self.headers)
        dc = self.dc_of(query)
        index, wait = self.blocking_args(query)
        passing = "passing" in query and query["passing"][0] not in ("false", "0")
        tags = query.get("tag", [])
        with cat.lock:
            if cat.fail:
                status = cat.fail.pop(0)
                text = ("rate limit exceeded, try again later or try another server"
                        if status == 429 else "rpc error making call: No cluster leader")
                raise HttpError(status, text)

            def current():
                return 0 if cat.zero_index else max(1, cat.service_index(dc, name))
            srv.block(index, wait, current)
            meta = self.read_meta(query, current())
            if cat.garbage:
                return self.send(200, cat.garbage.pop(0), meta)
            if access is None:
                meta["X-Consul-Results-Filtered-By-ACLs"] = "true"
                return self.send(200, "[]", meta)
            body = srv.health_entries(dc, name, passing, tags)
        self.send(200, body, meta)

    def catalog_services(self, query):
        srv, cat = self.srv, self.srv.cat
        access = srv.acl(self.headers)
        dc = self.dc_of(query)
        index, wait = self.blocking_args(query)
        with cat.lock:
            srv.block(index, wait, lambda: max(1, cat.index))
            meta = self.read_meta(query, max(1, cat.index))
            out = {"consul": []}
            if access is None:
                meta["X-Consul-Results-Filtered-By-ACLs"] = "true"
                out = {}
            else:
                for svc in cat.dcs[dc]["services"].values():
                    tags = out.setdefault(svc["Service"], [])
                    tags += [t for t in svc["Tags"] if t not in tags]
        self.send(200, json.dumps(out), meta)

    def agent(self, rest, query, data):
        srv = self.srv
        srv.need_write(self.headers)
        dc = srv.local_dc
        parts = rest.split("/", 2)
        if rest == "service/register":
            srv.register(dc, data, query)
        elif parts[:2] == ["service", "deregister"] and len(parts) == 3:
            srv.deregister(dc, parts[2])
        elif parts[:2] == ["service", "maintenance"] and len(parts) == 3:
            enable = query.get("enable", [""])[0]
            if enable not in ("true", "false"):
                raise HttpError(400, "Missing value for enable")
            srv.maintenance(dc, parts[2], enable == "true", query.get("reason", [""])[0])
        elif parts[0] == "check" and len(parts) == 3 and parts[1] in ("pass", "warn", "fail"):
            status = {"pass": "passing", "warn": "warning", "fail": "critical"}[parts[1]]
            srv.update_check(dc, parts[2], status, query.get("note", [""])[0])
        elif parts[:2] == ["check", "update"] and len(parts) == 3:
            try:
                upd = json.loads(data or b"{}")
            except ValueError as e:
                raise HttpError(400, "Request decode failed: %s" % e)
            srv.update_check(dc, parts[2], upd.get("Status", ""), upd.get("Output", ""))
        else:
            raise HttpError(404, "")
        self.send(200, b"", ctype="text/plain; charset=utf-8")

    def control(self, what, query, data):
        srv, cat = self.srv, self.srv.cat
        arg = lambda k, default="": query.get(k, [default])[0]  # noqa: E731
        dc = arg("dc") or srv.local_dc
        if dc not in cat.dcs:
            raise HttpError(400, "unknown dc")
        if what == "requests":
            with cat.lock:
                return self.send(200, json.dumps(cat.requests))
        if what == "state":
            with cat.lock:
                return self.send(200, json.dumps({
                    "index": cat.index, "blocked": cat.blocked,
                    "services": {k: sorted(d["services"]) for k, d in cat.dcs.items()}}))
        if what == "register":
            srv.need_write(self.headers)
            srv.register(dc, data, query)
            return self.send(200, "{}")
        with cat.lock:
            if what == "index":
                n = int(arg("set"))
                cat.index = n
                for d in cat.dcs.values():
                    for k in d["svc_index"]:
                        d["svc_index"][k] = min(d["svc_index"][k], n)
                cat.cond.notify_all()
            elif what == "zero-index":
                cat.zero_index = arg("enable", "1") not in ("0", "false")
                cat.cond.notify_all()
            elif what == "fail":
                cat.fail += [int(arg("status", "500"))] * int(arg("count", "1"))
            elif what == "garbage":
                cat.garbage += [data.decode() or "this is not json"] * int(arg("count", "1"))
            elif what == "inject":
                cat.dcs[dc]["injected"].setdefault(arg("service"), {})[arg("id")] = data.decode()
                cat.bump(dc, [arg("service")])
            elif what == "uninject":
                cat.dcs[dc]["injected"].get(arg("service"), {}).pop(arg("id"), None)
                cat.bump(dc, [arg("service")])
            elif what == "node":
                node = cat.dcs[dc]["node"]
                node["Address"] = arg("address")
                node["TaggedAddresses"] = {"lan": node["Address"], "wan": node["Address"]}
                node["ModifyIndex"] = cat.bump_all(dc)
            elif what == "leader":
                cat.known_leader = arg("known", "true") != "false"
                cat.wakes += 1
                cat.cond.notify_all()
            elif what == "wake":
                # Ends every blocked query now, as a leader change does in Consul.
                cat.wakes += 1
                waiting = cat.blocked
                cat.cond.notify_all()
                return self.send(200, json.dumps({"woken": waiting}))
            else:
                raise HttpError(404, "unknown test control")
            return self.send(200, json.dumps({"index": cat.index}))


class Listener(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, handler, tls_ctx):
        self.tls_ctx = tls_ctx
        super().__init__(addr, handler)

    def handle_error(self, request, client_address):
        # A client that goes away mid-answer (a watcher stopped, a test ending) is normal here.
        log("error serving %s: %s" % (client_address, sys.exc_info()[1]))

    def get_request(self):
        sock, addr = self.socket.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls_ctx is not None:
            sock = self.tls_ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def process_request_thread(self, request, client_address):
        if self.tls_ctx is not None:
            try:
                request.settimeout(10)
                request.do_handshake()
                request.settimeout(None)
            except (ssl.SSLError, OSError) as e:
                log("TLS handshake failed: %s" % e)
                self.shutdown_request(request)
                return
        super().process_request_thread(request, client_address)


def main():
    global VERBOSE
    ap = argparse.ArgumentParser(description="Consul test server")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--datacenter", default="dc1")
    ap.add_argument("--extra-dc", action="append")
    ap.add_argument("--node-address", default="127.0.0.1")
    ap.add_argument("--token")
    ap.add_argument("--read-token")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--tls-client-ca")
    ap.add_argument("--verbose", "-v", action="store_true")
    args = ap.parse_args()
    VERBOSE = args.verbose
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))

    tls_ctx = None
    if args.tls_cert:
        tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls_ctx.load_cert_chain(args.tls_cert, args.tls_key)
        if args.tls_client_ca:
            tls_ctx.load_verify_locations(args.tls_client_ca)
            tls_ctx.verify_mode = ssl.CERT_REQUIRED

    Handler.srv = Server(args)
    httpd = Listener(("127.0.0.1", args.port), Handler, tls_ctx)
    print("READY %d" % httpd.server_address[1], flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
