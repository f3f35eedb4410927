#!/usr/bin/env python3
"""Aggregates the raw measurements of bench/http_vs_haproxy.sh: medians, ratios, table, JSON.

  http_report.py RAW.tsv META.json OUT.json

RAW.tsv has one line per wrk run:
  target  scenario  run  requests  seconds  rps  p50_us  p99_us  proxy_cpu_ns  backend_cpu_ns
  socket_errors  backend_connections  backend_requests  access_log_lines  cpu_ticks
where *_cpu_ns are deltas of the processes' run time in nanoseconds, all threads (proxy: 0 for
direct), backend_* are deltas of
the backend nginx's stub_status (connections accepted, requests served) and access_log_lines is
empty except for pilotfish-full. cpu_ticks (optional) is the /proc/stat tick deltas of the load
and proxy CPUs over the run (runs.py).
"""
import json
import statistics
import sys

from runs import cpu_shares, fmt_spread, paired

TARGETS = ["direct", "haproxy", "nginx", "pilotfish", "pilotfish-full"]
PILOTFISH = ["pilotfish", "pilotfish-full"]
SCENARIOS = {
    "small": "small keepalive: GET /, {small}-byte body (return 200), {c} keepalive connections",
    "10k": "10 KiB keepalive: GET /files/10k, {big}-byte static file, {c} keepalive connections",
    "close": "new connection per request: GET / with 'Connection: close', {c} connections",
}


def ratio(a, b):
    return None if a is None or b in (None, 0) else a / b


def fmt_ratio(r):
    return "-" if r is None else f"{r:.2f}x"


def main(raw_path, meta_path, out_path):
    meta = json.load(open(meta_path))
    s = meta["settings"]
    scenarios = []  # in first-seen order
    runs = {}       # (scenario, target) -> list of dicts
    for line in open(raw_path):
        f = line.rstrip("\n").split("\t")
        if len(f) < 14:
            continue
        target, scenario, run = f[0], f[1], int(f[2])
        n = int(f[3])
        pns, bns = int(f[8]), int(f[9])
        if scenario not in scenarios:
            scenarios.append(scenario)
        runs.setdefault((scenario, target), []).append({
            "run": run, "requests": n, "seconds": float(f[4]), "rps": float(f[5]),
            "p50_us": float(f[6]), "p99_us": float(f[7]),
            "proxy_cpu_us_per_req": (pns / 1e3 / n) if target != "direct" else None,
            "backend_cpu_us_per_req": bns / 1e3 / n,
            "proxy_cpu_ns": pns, "backend_cpu_ns": bns, "socket_errors": int(f[10]),
            "backend_connections": int(f[11]), "backend_requests": int(f[12]),
            "access_log_lines": int(f[13]) if f[13] else None,
            **cpu_shares(f[14] if len(f) > 14 else ""),
        })

    def med(scenario, target, key):
        vals = [r[key] for r in runs.get((scenario, target), []) if r[key] is not None]
        return statistics.median(vals) if vals else None

    results = []
    for sc in scenarios:
        row = {"scenario": sc, "description": SCENARIOS.get(sc, sc).format(
            small=s["small_body_bytes"], big=s["big_body_bytes"], c=s["connections"]), "targets": {}}
        for t in TARGETS:
            row["targets"][t] = {
                "rps_median": med(sc, t, "rps"),
                "p50_us_median": med(sc, t, "p50_us"),
                "p99_us_median": med(sc, t, "p99_us"),
                "proxy_cpu_us_per_req_median": med(sc, t, "proxy_cpu_us_per_req"),
                "backend_cpu_us_per_req_median": med(sc, t, "backend_cpu_us_per_req"),
                "backend_connections_median": med(sc, t, "backend_connections"),
                "load_cpu_busy_median": med(sc, t, "load_cpu_busy"),
                "proxy_cpu_busy_median": med(sc, t, "proxy_cpu_busy"),
                "steal_median": med(sc, t, "load_cpu_steal"),
                "runs": runs.get((sc, t), []),
            }
        T = row["targets"]
        ratios = {}
        for pf in PILOTFISH:
            for other in ("haproxy", "nginx", "direct"):
                key = f"{pf}_vs_{other}"
                ratios[key] = {
                    "rps": ratio(T[pf]["rps_median"], T[other]["rps_median"]),
                    "p99": ratio(T[pf]["p99_us_median"], T[other]["p99_us_median"]),
                    "cpu": ratio(T[pf]["proxy_cpu_us_per_req_median"],
                                 T[other]["proxy_cpu_us_per_req_median"]),
                }
        ratios["haproxy_vs_direct"] = {"rps": ratio(T["haproxy"]["rps_median"], T["direct"]["rps_median"]),
                                       "p99": ratio(T["haproxy"]["p99_us_median"], T["direct"]["p99_us_median"]),
                                       "cpu": None}
        row["ratios"] = ratios
        P, H = T["pilotfish"]["runs"], T["haproxy"]["runs"]
        row["paired_pilotfish_vs_haproxy"] = {k: paired(P, H, k) for k in
                                              ("rps", "p99_us", "proxy_cpu_us_per_req")}
        results.append(row)

    # ---- table -------------------------------------------------------------------------------
    v = meta["versions"]
    p = meta["pinning"]
    lines = []
    lines.append(f"pilotfish {v['pilotfish']} vs {v['haproxy']} vs {v['nginx']}, HTTP/1.1 on loopback, "
                 f"{s['threads']} proxy thread(s)/process(es), median of {s['runs']} runs")
    lines.append(f"wrk -t1 -c{s['connections']} -d{s['duration_s']}s --latency; backend: nginx, "
                 f"{s['backend_workers']} worker(s)")
    lines.append(f"CPUs: proxy {p['proxy_cpus']}, wrk+backend {p['load_cpus']}"
                 + (f" -- NOTE: {p['note']}" if p["shared"] else ""))
    lines.append("pilotfish: no tracing, no access log; pilotfish-full: propagate [b3, w3c], request_id, "
                 "sample_rate 1.0, JSON access log to a file")
    if "loadavg" in meta:
        lines.append(f"{meta['cpu_model']}; load average before {meta['loadavg']['before']}, "
                     f"after {meta['loadavg']['after']}")

    def num(x, fmt):
        return "-" if x is None else format(x, fmt)

    for row in results:
        T = row["targets"]
        lines.append("")
        lines.append(row["description"])
        lines.append(f"{'':<16}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'CPU us/req':>12}{'backend conns':>15}"
                     f"{'load CPUs busy':>16}{'proxy CPUs busy':>17}")
        for t in TARGETS:
            d = T[t]
            if d["rps_median"] is None:
                continue
            lines.append(f"{t:<16}{num(d['rps_median'], ',.0f'):>10}"
                         f"{num(d['p50_us_median'] and d['p50_us_median'] / 1000, '.2f'):>9}"
                         f"{num(d['p99_us_median'] and d['p99_us_median'] / 1000, '.2f'):>9}"
                         f"{num(d['proxy_cpu_us_per_req_median'], '.2f'):>12}"
                         f"{num(d['backend_connections_median'], ',.0f'):>15}"
                         f"{num(d['load_cpu_busy_median'] and 100 * d['load_cpu_busy_median'], '.0f') + '%':>16}"
                         f"{num(d['proxy_cpu_busy_median'] and 100 * d['proxy_cpu_busy_median'], '.0f') + '%':>17}")

    lines.append("")
    lines.append("Ratios of medians (req/s: above 1.00x is better; p99 and CPU/req: below 1.00x is better)")
    lines.append(f"{'':<22}{'-- pf / haproxy --':>22}{'--- pf / nginx ---':>24}{'- pf / direct -':>17}")
    lines.append(f"{'':<22}" + f"{'req/s':>8}{'p99':>7}{'CPU':>7}" + f"{'':>2}{'req/s':>8}{'p99':>7}{'CPU':>7}"
                 + f"{'':>2}{'req/s':>8}{'p99':>7}")
    for row in results:
        R = row["ratios"]
        for pf in PILOTFISH:
            h, n_, d = R[f"{pf}_vs_haproxy"], R[f"{pf}_vs_nginx"], R[f"{pf}_vs_direct"]
            lines.append(f"{row['scenario'] + ' ' + pf:<22}"
                         + "".join(f"{fmt_ratio(h[k]):>{w}}" for k, w in (("rps", 8), ("p99", 7), ("cpu", 7)))
                         + f"{'':>2}"
                         + "".join(f"{fmt_ratio(n_[k]):>{w}}" for k, w in (("rps", 8), ("p99", 7), ("cpu", 7)))
                         + f"{'':>2}"
                         + "".join(f"{fmt_ratio(d[k]):>{w}}" for k, w in (("rps", 8), ("p99", 7))))

    lines.append("")
    lines.append("pilotfish / HAProxy run by run (same run, back to back): median [min-max]")
    lines.append(f"{'':<10}{'req/s':>22}{'p99':>22}{'CPU/req':>22}")
    for row in results:
        pr = row["paired_pilotfish_vs_haproxy"]
        lines.append(f"{row['scenario']:<10}" + "".join(
            f"{fmt_spread(pr[k]):>22}" for k in ("rps", "p99_us", "proxy_cpu_us_per_req")))

    summary = {}
    thr = [r["ratios"]["pilotfish_vs_haproxy"]["rps"] for r in results]
    cpu = [r["ratios"]["pilotfish_vs_haproxy"]["cpu"] for r in results]
    p99 = [r["ratios"]["pilotfish_vs_haproxy"]["p99"] for r in results]
    if all(x for x in thr + cpu + p99) and thr:
        summary = {"rps_ratio_min": min(thr), "rps_ratio_geomean": statistics.geometric_mean(thr),
                   "cpu_ratio_max": max(cpu), "cpu_ratio_geomean": statistics.geometric_mean(cpu),
                   "p99_ratio_max": max(p99)}
        ok = min(thr) >= 1.0 and max(cpu) <= 1.0
        summary["pilotfish_matches_haproxy"] = ok
        lines.append("")
        lines.append(f"pilotfish (no tracing, no access log) vs HAProxy: req/s min {min(thr):.2f}x "
                     f"(geomean {summary['rps_ratio_geomean']:.2f}x), CPU/req max {max(cpu):.2f}x "
                     f"(geomean {summary['cpu_ratio_geomean']:.2f}x), p99 max {max(p99):.2f}x -> "
                     + ("at least on par on every scenario" if ok else "behind HAProxy on at least one scenario"))
    errs = sum(r["socket_errors"] for rr in runs.values() for r in rr)
    if errs:
        lines.append(f"warning: wrk reported {errs} socket errors in total (see the runs in the JSON)")
    print("\n".join(lines))

    json.dump({**meta, "results": results, "summary": summary, "table": lines},
              open(out_path, "w"), indent=2)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
