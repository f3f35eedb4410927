#!/usr/bin/env python3
"""Driver of bench/discovery.sh (run it with /usr/bin/python3: kazoo is a Debian package).

Subcommands (each prints one JSON object on stdout unless said otherwise):

  backends ID=HOST:PORT...      tiny TCP backends in one process: each accepted connection gets
                                the backend's ID and is closed. Prints "READY" once listening;
                                runs until killed. Connections from outside 127/8 are dropped.
  setup --zk .. --consul .. --file ..   registers backend 0 in every store (before pilotfish starts)
  propagation --store S ..      BENCH_CHANGES switches of the registered set, one sample each
  large-populate --zk ..        the large world in ZooKeeper (1,000 x 10 and 1 x 10,000 znodes)
  large-config ..               pilotfish YAML of the large world (prints YAML, not JSON)
  large-updates --what small|big ..   N updates, propagation (from pilotfish's log) and CPU per update
  latency ..                    per-request latency through listeners, interleaved rounds

A propagation sample is the time from the return of the store's write call (ZooKeeper multi,
Consul agent register, etcd put, file rename: each returns once the store committed) to the
first connection through pilotfish that the new backend answers. The loop that detects it is
cheap on purpose: one blocking socket per probe, nothing else in this process.
"""

import argparse
import base64
import http.client
import json
import os
import random
import resource
import selectors
import socket
import sys
import time

NERVE = {"available": True, "weight": 255}


def pct(values, p):
    """Nearest-rank percentile (p in 0..100) of a list of numbers."""
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))
    return s[k]


def summary_ms(samples_s):
    ms = [x * 1000.0 for x in samples_s]
    return {"n": len(ms), "p50_ms": round(pct(ms, 50), 3), "p90_ms": round(pct(ms, 90), 3),
            "p99_ms": round(pct(ms, 99), 3), "max_ms": round(max(ms), 3),
            "min_ms": round(min(ms), 3)}


# ---- backends -----------------------------------------------------------------------------------
def cmd_backends(a):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sel = selectors.DefaultSelector()
    for spec in a.listen:
        ident, addr = spec.split("=", 1)
        host, port = addr.rsplit(":", 1)
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, int(port)))
        s.listen(4096)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, ident.encode())
    print("READY", flush=True)
    while True:
        for key, _ in sel.select():
            while True:
                try:
                    c, peer = key.fileobj.accept()
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    break
                try:
                    if peer[0].startswith("127."):
                        c.send(key.data)
                except OSError:
                    pass
                c.close()


# ---- probes -------------------------------------------------------------------------------------
PROBE_TIMEOUT_S = 5.0


def probe(port):
    """One connection through pilotfish: the answering backend's ID (b"" when none answered)."""
    s = socket.socket()
    s.settimeout(PROBE_TIMEOUT_S)
    try:
        s.connect(("127.0.0.1", port))
        data = b""
        while True:
            b = s.recv(64)
            if not b:
                return data
            data += b
    except OSError:
        return b""
    finally:
        s.close()


def wait_routed(port, want, deadline_s=30.0):
    """Probes until `want` answers: (seconds since call, probes), or (None, probes) at deadline."""
    t0 = time.perf_counter()
    n = 0
    while True:
        n += 1
        if probe(port) == want:
            return time.perf_counter() - t0, n
        if time.perf_counter() - t0 > deadline_s:
            return None, n


# ---- stores -------------------------------------------------------------------------------------
def nerve_json(host, port, name):
    return json.dumps(dict(NERVE, host=host, port=port, name=name)).encode()


class ZkStore:
    def __init__(self, servers, path):
        from kazoo.client import KazooClient
        self.zk = KazooClient(hosts=servers, timeout=10.0)
        self.zk.start(timeout=30)
        self.path = path
        self.zk.ensure_path(path)

    def set_only(self, port, name):
        """One multi (one ZooKeeper commit): create the new node, delete every other one."""
        old = self.zk.get_children(self.path)
        t = self.zk.transaction()
        t.create(self.path + "/" + name + "_", nerve_json("127.0.0.1", port, name), sequence=True)
        for c in old:
            t.delete(self.path + "/" + c)
        res = t.commit()
        bad = [r for r in res if isinstance(r, Exception)]
        if bad:
            raise RuntimeError("zookeeper multi failed: %r" % bad)

    def close(self):
        self.zk.stop()
        self.zk.close()


class ConsulStore:
    """Consul agent API: one service ID re-registered with another port (one raft write)."""

    def __init__(self, address, service):
        host, port = address.rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=10)
        self.service = service

    def set_only(self, port, name):
        body = json.dumps({"ID": self.service + "-1", "Name": self.service,
                           "Address": "127.0.0.1", "Port": port, "Meta": {"backend": name}})
        self.conn.request("PUT", "/v1/agent/service/register", body=body)
        r = self.conn.getresponse()
        r.read()
        if r.status != 200:
            raise RuntimeError("consul register: HTTP %d" % r.status)

    def close(self):
        self.conn.close()


class EtcdStore:
    """etcd v3 through its HTTP gateway: one key's value rewritten (one revision)."""

    def __init__(self, address, prefix):
        host, port = address.rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=10)
        self.key = base64.b64encode((prefix + "/bench-1").encode()).decode()

    def set_only(self, port, name):
        v = base64.b64encode(nerve_json("127.0.0.1", port, name)).decode()
        self.conn.request("POST", "/v3/kv/put", body=json.dumps({"key": self.key, "value": v}))
        r = self.conn.getresponse()
        body = r.read()
        if r.status != 200:
            raise RuntimeError("etcd put: HTTP %d %s" % (r.status, body[:200]))

    def close(self):
        self.conn.close()


class FileStore:
    """The endpoints file replaced atomically (write a temporary file, rename over)."""

    def __init__(self, path):
        self.path = path

    def set_only(self, port, name):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write("- 127.0.0.1:%d\n" % port)
        os.rename(tmp, self.path)

    def close(self):
        pass


def open_store(a, store):
    if store == "zookeeper":
        return ZkStore(a.zk, a.zk_path)
    if store == "consul":
        return ConsulStore(a.consul, a.consul_service)
    if store == "etcd":
        return EtcdStore(a.etcd, a.etcd_prefix)
    if store == "file":
        return FileStore(a.file)
    raise SystemExit("unknown store " + store)


def parse_backends(specs):
    out = []
    for spec in specs:
        ident, port = spec.split("=", 1)
        out.append((ident.encode(), int(port)))
    return out


def cmd_setup(a):
    first = parse_backends(a.backend)[0]
    for store in a.stores:
        st = open_store(a, store)
        st.set_only(first[1], first[0].decode())
        st.close()
    print(json.dumps({"registered": first[0].decode(), "stores": a.stores}))


def cmd_propagation(a):
    backends = parse_backends(a.backend)
    st = open_store(a, a.store)
    cur = 0
    # The store was set up with backend 0: check it is what pilotfish routes to.
    dt, _ = wait_routed(a.listener, backends[0][0], 30.0)
    if dt is None:
        raise SystemExit("%s: pilotfish never routed to the initial backend" % a.store)
    rnd = random.Random(a.seed)
    samples, from_call, writes, probes, failures = [], [], [], [], 0
    for _ in range(a.changes):
        time.sleep(rnd.uniform(a.pause_ms[0], a.pause_ms[1]) / 1000.0)
        cur = (cur + 1) % len(backends)
        ident, port = backends[cur]
        t0 = time.perf_counter()
        st.set_only(port, ident.decode())
        writes.append(time.perf_counter() - t0)
        dt, n = wait_routed(a.listener, ident, a.deadline)
        if dt is None:
            failures += 1
            continue
        samples.append(dt)
        from_call.append(dt + writes[-1])
        probes.append(n)
    st.close()
    out = {"store": a.store, "changes": a.changes, "failures": failures,
           "propagation": summary_ms(samples) if samples else None,
           "from_write_call": summary_ms(from_call) if from_call else None,
           "write_call": summary_ms(writes),
           "probes_per_change": {"p50": pct(probes, 50), "max": max(probes) if probes else None},
           "samples_ms": [round(x * 1000, 3) for x in samples]}
    print(json.dumps(out))


# ---- large world --------------------------------------------------------------------------------
def small_addr(c, e):
    # Never connected to (no listener routes to these clusters): TEST-NET style private space.
    return "10.%d.%d.%d" % (c // 250, c % 250, e + 1), 8080


def big_addr(i, port):
    return "127.%d.%d.%d" % (1 + i // 62500, i // 250 % 250, i % 250 + 1), port


def zk_batch_create(zk, items, batch=500):
    for k in range(0, len(items), batch):
        t = zk.transaction()
        for path, data in items[k:k + batch]:
            t.create(path, data)
        res = t.commit()
        bad = [r for r in res if isinstance(r, Exception)]
        if bad:
            raise RuntimeError("zookeeper multi failed: %r" % bad[:3])


def cmd_large_populate(a):
    from kazoo.client import KazooClient
    zk = KazooClient(hosts=a.zk, timeout=10.0)
    zk.start(timeout=30)
    t0 = time.perf_counter()
    zk.ensure_path(a.root)
    parents = [(a.root + "/c%04d" % c, b"") for c in range(a.clusters)]
    parents.append((a.root + "/big", b""))
    zk_batch_create(zk, parents)
    items = []
    for c in range(a.clusters):
        for e in range(a.per_cluster):
            h, p = small_addr(c, e)
            name = "i-%04d-%02d" % (c, e)
            items.append(("%s/c%04d/%s_%010d" % (a.root, c, name, e), nerve_json(h, p, name)))
    for i in range(a.big):
        h, p = big_addr(i, a.big_port)
        name = "i-big-%05d" % i
        items.append(("%s/big/%s_%010d" % (a.root, name, i), nerve_json(h, p, name)))
    zk_batch_create(zk, items)
    zk.stop()
    zk.close()
    print(json.dumps({"znodes": len(items) + len(parents),
                      "seconds": round(time.perf_counter() - t0, 2)}))


def cmd_large_config(a):
    lines = ["workers: %d" % a.workers, "drain_delay: 0s", "drain_timeout: 1s",
             "admin: {address: 127.0.0.1:%d}" % a.admin, "log: {level: info, format: text}"]
    if a.clusters:
        lines += ["discovery:",
                  "  zk: {type: zookeeper, servers: [%s], session_timeout: 10s}" % a.zk]
    lines += ["clusters:",
             "  - {name: static, endpoints: [127.0.0.1:%d], connect_timeout: 1s}" % a.static_port]
    if a.clusters:
        lines.append("  - {name: big, zookeeper: {source: zk, path: %s/big}, "
                     "connect_timeout: 1s}" % a.root)
        for c in range(a.clusters):
            lines.append("  - {name: c%04d, zookeeper: {source: zk, path: %s/c%04d}}"
                         % (c, a.root, c))
    lines.append("listeners:")
    lines.append("  - {name: static, address: 127.0.0.1:%d, protocol: tcp, cluster: static}"
                 % a.static_listener)
    if a.clusters:
        lines.append("  - {name: big, address: 127.0.0.1:%d, protocol: tcp, cluster: big}"
                     % a.big_listener)
    print("\n".join(lines))


def ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


class LogTail:
    """New lines of pilotfish's log since the last call (the cache logs every applied update)."""

    def __init__(self, path):
        self.f = open(path, "rb")
        self.f.seek(0, os.SEEK_END)
        self.buf = b""

    def wait_for(self, needle, deadline_s):
        t0 = time.perf_counter()
        while True:
            chunk = self.f.read()
            if chunk:
                self.buf += chunk
                lines = self.buf.split(b"\n")
                self.buf = lines.pop()
                for line in lines:
                    if needle in line:
                        return time.perf_counter() - t0
            elif time.perf_counter() - t0 > deadline_s:
                return None
            else:
                time.sleep(0.0002)


def cmd_large_updates(a):
    """Each update is one ZooKeeper multi that swaps one endpoint of a cluster (one leaves, one
    arrives); pilotfish logs "cluster <name>: N endpoints from zookeeper" when it applied it."""
    from kazoo.client import KazooClient
    zk = KazooClient(hosts=a.zk, timeout=10.0)
    zk.start(timeout=30)
    rnd = random.Random(a.seed)
    tail = LogTail(a.log)
    samples, from_call, fails = [], [], 0
    # Children lists fetched up front so the timed part is the write only.
    if a.what == "big":
        targets = [("big", a.root + "/big")]
    else:
        targets = [("c%04d" % c, a.root + "/c%04d" % c) for c in range(a.clusters)]
    kids = {}
    t_start = ticks(a.pid)
    w_start = time.perf_counter()
    for k in range(a.updates):
        name, path = rnd.choice(targets)
        if path not in kids:
            kids[path] = sorted(zk.get_children(path))
        victim = kids[path].pop(0)
        if a.what == "big":
            h, p = big_addr(a.big + k, a.big_port)
        else:
            h, p = small_addr(a.clusters + k % 1000, k // 1000 % 200)
        node = "u-%06d_%010d" % (k, k)
        t = zk.transaction()
        t.delete(path + "/" + victim)
        t.create(path + "/" + node, nerve_json(h, p, node))
        tc = time.perf_counter()
        res = t.commit()
        wc = time.perf_counter() - tc
        if any(isinstance(r, Exception) for r in res):
            raise RuntimeError("zookeeper multi failed: %r" % res)
        # The set is complete again (one left, one arrived) when the line says the full size;
        # an intermediate set (the deletion seen first) logs one endpoint fewer.
        size = a.big if a.what == "big" else a.per_cluster
        dt = tail.wait_for(("cluster %s: %d endpoints from" % (name, size)).encode(), a.deadline)
        kids[path].append(node)
        if dt is None:
            fails += 1
        else:
            samples.append(dt)
            from_call.append(dt + wc)
        time.sleep(a.pause_ms / 1000.0)
    wall = time.perf_counter() - w_start
    used = ticks(a.pid) - t_start
    zk.stop()
    zk.close()
    hz = os.sysconf("SC_CLK_TCK")
    print(json.dumps({"what": a.what, "updates": a.updates, "failures": fails,
                      "propagation": summary_ms(samples) if samples else None,
                      "from_write_call": summary_ms(from_call) if from_call else None,
                      "cpu_ticks": used, "wall_s": round(wall, 2),
                      "cpu_ms_per_update": round(used * 1000.0 / hz / a.updates, 3),
                      "rss_kib_after": rss_kib(a.pid)}))


class BigChurn:
    """A thread that swaps one endpoint of the 10,000-endpoint cluster every `interval` seconds:
    the latency of the other listeners while pilotfish applies those updates."""

    def __init__(self, a):
        import threading
        from kazoo.client import KazooClient
        self.a = a
        self.zk = KazooClient(hosts=a.churn_zk, timeout=10.0)
        self.zk.start(timeout=30)
        self.stop = threading.Event()
        self.done = 0
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        path = self.a.root + "/big"
        kids = sorted(self.zk.get_children(path))
        k = 0
        while not self.stop.wait(self.a.churn_interval):
            h, p = big_addr(self.a.big + 100000 + k, self.a.big_port)
            node = "churn-%06d_%010d" % (k, k)
            t = self.zk.transaction()
            t.delete(path + "/" + kids.pop(0))
            t.create(path + "/" + node, nerve_json(h, p, node))
            t.commit()
            kids.append(node)
            k += 1
            self.done = k

    def finish(self):
        self.stop.set()
        self.thread.join()
        self.zk.stop()
        self.zk.close()
        return self.done


def cmd_latency(a):
    global PROBE_TIMEOUT_S
    PROBE_TIMEOUT_S = a.timeout
    churn = BigChurn(a) if a.churn_zk else None
    targets = []
    for spec in a.target:
        name, port = spec.split("=", 1)
        targets.append((name, int(port)))
    lat = {n: [] for n, _ in targets}
    bad = {n: 0 for n, _ in targets}
    # Warm-up; first wait until each listener answers at all (the worker may still be applying
    # earlier updates): how long that took is reported.
    backlog = {}
    for n, p in targets:
        t0 = time.perf_counter()
        while not probe(p) and time.perf_counter() - t0 < 300:
            pass
        backlog[n] = round(time.perf_counter() - t0, 3)
        for _ in range(50):
            probe(p)
    t_end = time.perf_counter() + a.max_seconds
    for _ in range(a.rounds):
        for n, p in targets:
            for _ in range(a.requests):
                if time.perf_counter() > t_end:
                    break
                t0 = time.perf_counter()
                got = probe(p)
                dt = time.perf_counter() - t0
                if got:
                    lat[n].append(dt)
                else:
                    bad[n] += 1
    out = {}
    for n, _ in targets:
        ms = [x * 1000 for x in lat[n]]
        if not ms:
            out[n] = {"requests": 0, "failed": bad[n]}
            continue
        out[n] = {"requests": len(ms), "failed": bad[n],
                  "p50_ms": round(pct(ms, 50), 3), "p99_ms": round(pct(ms, 99), 3),
                  "mean_ms": round(sum(ms) / len(ms), 3), "max_ms": round(max(ms), 3)}
    out["first_answer_wait_s"] = backlog
    if churn:
        out["churn_updates"] = churn.finish()
    print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("backends")
    b.add_argument("listen", nargs="+")

    def stores(p):
        p.add_argument("--zk")
        p.add_argument("--zk-path", default="/services/bench-zk")
        p.add_argument("--consul")
        p.add_argument("--consul-service", default="bench")
        p.add_argument("--etcd")
        p.add_argument("--etcd-prefix", default="/services/bench-etcd")
        p.add_argument("--file")
        p.add_argument("--backend", action="append", required=True, help="ID=PORT")

    s = sub.add_parser("setup")
    stores(s)
    s.add_argument("--stores", nargs="+", required=True)
    p = sub.add_parser("propagation")
    stores(p)
    p.add_argument("--store", required=True)
    p.add_argument("--listener", type=int, required=True)
    p.add_argument("--changes", type=int, default=100)
    p.add_argument("--pause-ms", type=float, nargs=2, default=(20.0, 60.0))
    p.add_argument("--deadline", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=1)

    def large(p):
        p.add_argument("--zk", required=True)
        p.add_argument("--root", default="/large")
        p.add_argument("--clusters", type=int, default=1000)
        p.add_argument("--per-cluster", type=int, default=10)
        p.add_argument("--big", type=int, default=10000)
        p.add_argument("--big-port", type=int, required=True)

    lp = sub.add_parser("large-populate")
    large(lp)
    lc = sub.add_parser("large-config")
    large(lc)
    lc.add_argument("--workers", type=int, default=1)
    lc.add_argument("--admin", type=int, required=True)
    lc.add_argument("--static-port", type=int, required=True)
    lc.add_argument("--static-listener", type=int, required=True)
    lc.add_argument("--big-listener", type=int, default=0)
    lu = sub.add_parser("large-updates")
    large(lu)
    lu.add_argument("--what", choices=["small", "big"], required=True)
    lu.add_argument("--pid", type=int, required=True)
    lu.add_argument("--log", required=True)
    lu.add_argument("--updates", type=int, default=200)
    lu.add_argument("--pause-ms", type=float, default=20.0)
    lu.add_argument("--deadline", type=float, default=10.0)
    lu.add_argument("--seed", type=int, default=2)
    la = sub.add_parser("latency")
    la.add_argument("--target", action="append", required=True, help="NAME=PORT")
    la.add_argument("--rounds", type=int, default=3)
    la.add_argument("--requests", type=int, default=1000)
    la.add_argument("--churn-zk", help="swap endpoints of the big cluster meanwhile")
    la.add_argument("--churn-interval", type=float, default=0.25)
    la.add_argument("--timeout", type=float, default=5.0, help="a probe slower than this fails")
    la.add_argument("--max-seconds", type=float, default=600.0)
    la.add_argument("--root", default="/large")
    la.add_argument("--big", type=int, default=10000)
    la.add_argument("--big-port", type=int, default=0)
    a = ap.parse_args()
    {"backends": cmd_backends, "setup": cmd_setup, "propagation": cmd_propagation,
     "large-populate": cmd_large_populate, "large-config": cmd_large_config,
     "large-updates": cmd_large_updates, "latency": cmd_latency}[a.cmd](a)


if __name__ == "__main__":
    main()
