#!/usr/bin/env python3
"""Aggregates the raw measurements of bench/tcp_vs_haproxy.sh: medians, ratios, table, JSON.

  report.py RAW.tsv META.json OUT.json

RAW.tsv has one line per measurement:
  target  test  run  count  rate  proxy_cpu_ns  backend_cpu_ns  p50_ms  cpu_ticks
where count is requests (redis tests) or bytes (bulk), rate is requests/s or MB/s (10^6 bytes/s),
*_cpu_ns are deltas of the processes' run time in nanoseconds, all threads (proxy: 0 for direct),
and cpu_ticks (optional) the /proc/stat tick deltas of the load and proxy CPUs (runs.py).
"""
import json
import statistics
import sys

from runs import cpu_shares, fmt_spread, paired

TARGETS = ["direct", "haproxy", "pilotfish"]


def fmt_rate(v, unit):
    if v is None:
        return "-"
    return f"{v:,.0f}" if unit == "req/s" else f"{v:,.1f}"


def fmt_cpu(v):
    return "-" if v is None else f"{v:.2f}"


def ratio(a, b):
    return None if a is None or b in (None, 0) else a / b


def fmt_ratio(r):
    return "-" if r is None else f"{r:.2f}x"


def main(raw_path, meta_path, out_path):
    meta = json.load(open(meta_path))
    tests = []  # in first-seen order
    runs = {}   # (test, target) -> list of dicts
    for line in open(raw_path):
        f = line.rstrip("\n").split("\t")
        if len(f) < 8:
            continue
        target, test, run = f[0], f[1], int(f[2])
        count, rate = int(f[3]), float(f[4])
        pns, bns, p50 = int(f[5]), int(f[6]), (float(f[7]) if f[7] else None)
        if test not in tests:
            tests.append(test)
        per = (1 << 20) if test == "bulk" else 1  # bulk CPU is per MiB, redis CPU per request
        units = count / per
        runs.setdefault((test, target), []).append({
            "run": run, "count": count, "rate": rate,
            "proxy_cpu_us_per_unit": (pns / 1e3 / units) if target != "direct" else None,
            "backend_cpu_us_per_unit": bns / 1e3 / units,
            "proxy_cpu_ns": pns, "backend_cpu_ns": bns, "p50_latency_ms": p50,
            **cpu_shares(f[8] if len(f) > 8 else ""),
        })

    def med(test, target, key):
        vals = [r[key] for r in runs.get((test, target), []) if r[key] is not None]
        return statistics.median(vals) if vals else None

    results = []
    for test in tests:
        unit = "MB/s" if test == "bulk" else "req/s"
        cpu_unit = "us/MiB" if test == "bulk" else "us/req"
        row = {"test": test, "rate_unit": unit, "cpu_unit": cpu_unit, "targets": {}}
        for t in TARGETS:
            row["targets"][t] = {
                "rate_median": med(test, t, "rate"),
                "proxy_cpu_median": med(test, t, "proxy_cpu_us_per_unit"),
                "backend_cpu_median": med(test, t, "backend_cpu_us_per_unit"),
                "p50_latency_ms_median": med(test, t, "p50_latency_ms"),
                "load_cpu_busy_median": med(test, t, "load_cpu_busy"),
                "proxy_cpu_busy_median": med(test, t, "proxy_cpu_busy"),
                "runs": runs.get((test, t), []),
            }
        T = row["targets"]
        row["ratios"] = {
            "rate_pilotfish_vs_haproxy": ratio(T["pilotfish"]["rate_median"], T["haproxy"]["rate_median"]),
            "rate_pilotfish_vs_direct": ratio(T["pilotfish"]["rate_median"], T["direct"]["rate_median"]),
            "rate_haproxy_vs_direct": ratio(T["haproxy"]["rate_median"], T["direct"]["rate_median"]),
            "cpu_pilotfish_vs_haproxy": ratio(T["pilotfish"]["proxy_cpu_median"], T["haproxy"]["proxy_cpu_median"]),
        }
        P, H = T["pilotfish"]["runs"], T["haproxy"]["runs"]
        row["paired_pilotfish_vs_haproxy"] = {"rate": paired(P, H, "rate"),
                                              "cpu": paired(P, H, "proxy_cpu_us_per_unit")}
        results.append(row)

    # ---- table -------------------------------------------------------------------------------
    label = {"set": "SET", "get": "GET"}
    def name(test):
        if test == "bulk":
            b = meta['settings']['bulk_bytes']
            return f"bulk {b / (1 << 30):g} GiB" if b >= (1 << 30) else f"bulk {b / (1 << 20):g} MiB"
        base, _, p = test.partition("-P")
        return label.get(base, base.upper()) + (f" -P{p}" if p else "")

    s = meta["settings"]
    lines = []
    lines.append(f"pilotfish {meta['versions']['pilotfish']} vs {meta['versions']['haproxy']}, "
                 f"TCP on loopback, {s['threads']} proxy thread(s), median of {s['runs']} runs")
    lines.append(f"redis-benchmark -c {s['clients']}: -n {s['requests']} (unpipelined), "
                 f"-n {s['pipeline_requests']} (-P {s['pipeline']}); "
                 f"CPUs: proxy {meta['pinning']['proxy_cpus']}, redis+client+sink {meta['pinning']['load_cpus']}")
    if "loadavg" in meta:
        lines.append(f"{meta['cpu_model']}; load average before {meta['loadavg']['before']}, "
                     f"after {meta['loadavg']['after']}")
    hdr = f"{'':<24}{'direct':>12}{'haproxy':>12}{'pilotfish':>12}{'pf/haproxy':>12}{'pf/direct':>11}"
    lines.append("")
    lines.append("Throughput (higher is better)")
    lines.append(hdr)
    for row in results:
        T = row["targets"]
        lines.append(f"{name(row['test']) + ' ' + row['rate_unit']:<24}"
                     + "".join(f"{fmt_rate(T[t]['rate_median'], row['rate_unit']):>12}" for t in TARGETS)
                     + f"{fmt_ratio(row['ratios']['rate_pilotfish_vs_haproxy']):>12}"
                     + f"{fmt_ratio(row['ratios']['rate_pilotfish_vs_direct']):>11}")
    lines.append("")
    lines.append("Proxy CPU time, run time from schedstat (lower is better)")
    lines.append(hdr)
    for row in results:
        T = row["targets"]
        lines.append(f"{name(row['test']) + ' ' + row['cpu_unit']:<24}"
                     + f"{'-':>12}"
                     + "".join(f"{fmt_cpu(T[t]['proxy_cpu_median']):>12}" for t in TARGETS[1:])
                     + f"{fmt_ratio(row['ratios']['cpu_pilotfish_vs_haproxy']):>12}{'-':>11}")

    lines.append("")
    lines.append("pilotfish / HAProxy run by run (same run, back to back): median [min-max]")
    lines.append(f"{'':<24}{'throughput':>24}{'CPU':>24}")
    for row in results:
        pr = row["paired_pilotfish_vs_haproxy"]
        lines.append(f"{name(row['test']):<24}{fmt_spread(pr['rate']):>24}{fmt_spread(pr['cpu']):>24}")
    lines.append("")
    lines.append("How busy the CPUs were (load: redis + client + sink, and their kernel work; proxy)")
    lines.append(f"{'':<24}" + "".join(f"{t + ' load/proxy':>22}" for t in TARGETS))
    pct = lambda v: "-" if v is None else f"{100 * v:.0f}%"
    for row in results:
        T = row["targets"]
        lines.append(f"{name(row['test']):<24}" + "".join(
            f"{pct(T[t]['load_cpu_busy_median']) + ' / ' + pct(T[t]['proxy_cpu_busy_median']):>22}"
            for t in TARGETS))

    thr = [r["ratios"]["rate_pilotfish_vs_haproxy"] for r in results if r["ratios"]["rate_pilotfish_vs_haproxy"]]
    cpu = [r["ratios"]["cpu_pilotfish_vs_haproxy"] for r in results if r["ratios"]["cpu_pilotfish_vs_haproxy"]]
    summary = {}
    if thr and cpu:
        summary = {"throughput_ratio_min": min(thr), "throughput_ratio_geomean": statistics.geometric_mean(thr),
                   "cpu_ratio_max": max(cpu), "cpu_ratio_geomean": statistics.geometric_mean(cpu)}
        ok = min(thr) >= 1.0 and max(cpu) <= 1.0
        lines.append("")
        lines.append(f"Goal pilotfish >= 1.0x HAProxy throughput and <= 1.0x CPU/request: "
                     f"throughput min {min(thr):.2f}x (geomean {summary['throughput_ratio_geomean']:.2f}x), "
                     f"CPU max {max(cpu):.2f}x (geomean {summary['cpu_ratio_geomean']:.2f}x) -> "
                     + ("MET" if ok else "NOT MET"))
        summary["goal_met"] = ok
    print("\n".join(lines))

    json.dump({**meta, "results": results, "summary": summary, "table": lines},
              open(out_path, "w"), indent=2)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
