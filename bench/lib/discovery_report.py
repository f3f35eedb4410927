#!/usr/bin/env python3
"""Table and JSON of bench/discovery.sh.

  discovery_report.py OUT.json

Reads the driver's outputs from $TMP (propagation.jsonl, large.jsonl, latency.json,
populate.json, the pilotfish configs) and the settings from the environment the script exports.
"""
import json
import os
import sys

GOAL_P99_MS = 50.0


def load_lines(path):
    if not os.path.exists(path):
        return []
    return [json.loads(line) for line in open(path) if line.strip()]


def num(v):
    return None if v in (None, "") else float(v)


def main(out_path):
    e = os.environ
    tmp = e["TMP"]
    hz = int(e["CLK_TCK"])
    prop = load_lines(os.path.join(tmp, "propagation.jsonl"))
    large = {r["what"]: r for r in load_lines(os.path.join(tmp, "large.jsonl"))}
    lat_path = os.path.join(tmp, "latency.json")
    latency = json.load(open(lat_path)) if os.path.exists(lat_path) else None
    churn_path = os.path.join(tmp, "latency-churn.json")
    latency_churn = json.load(open(churn_path)) if os.path.exists(churn_path) else None
    pop_path = os.path.join(tmp, "populate.json")
    populate = json.load(open(pop_path)) if os.path.exists(pop_path) else None

    print("Propagation: store commit -> first connection through pilotfish answered by the new "
          "backend (%s changes per store)" % e["CHANGES"])
    print("%-10s %8s %8s %8s %5s %10s %12s %s" % ("store", "p50 ms", "p99 ms", "max ms", "fail",
                                                  "write p50", "call+p99 ms", "goal p99<=50ms"))
    met_all = True
    for r in prop:
        p = r["propagation"]
        ok = p is not None and r["failures"] == 0 and p["p99_ms"] <= GOAL_P99_MS
        met_all &= ok
        print("%-10s %8.2f %8.2f %8.2f %5d %10.2f %12.2f %s" % (
            r["store"], p["p50_ms"], p["p99_ms"], p["max_ms"], r["failures"],
            r["write_call"]["p50_ms"], r["from_write_call"]["p99_ms"],
            "met" if ok else "NOT MET"))
    if e.get("ETCD_NOTE"):
        print("%-10s %s" % ("etcd", e["ETCD_NOTE"]))

    out_large = None
    if e["LARGE"] == "1" and large:
        rss_base, rss_loaded, rss_after = (num(e.get(k)) for k in ("RSS_BASE", "RSS_LOADED",
                                                                   "RSS_AFTER"))
        idle_ticks = num(e.get("IDLE_TICKS"))
        out_large = {
            "store": "zookeeper",
            "clusters": int(e["LCLUSTERS"]), "endpoints_per_cluster": int(e["LPER"]),
            "big_cluster_endpoints": int(e["BIG"]), "populate": populate,
            "load_seconds": num(e.get("LOAD_S")),
            "clusters_past_initial_fetch_timeout": num(e.get("INITIAL_TIMEOUTS")),
            "load_cpu_s": num(e.get("LOAD_TICKS")) / hz if e.get("LOAD_TICKS") else None,
            "rss_kib": {"baseline_static_only": rss_base, "loaded": rss_loaded,
                        "after_updates_and_latency": rss_after,
                        "after_latency_with_churn": num(e.get("RSS_CHURN"))},
            "churn_interval_s": num(e.get("CHURN_INTERVAL")),
            "idle_cpu_ms_per_s": idle_ticks * 1000.0 / hz / 5.0 if idle_ticks is not None else None,
            "updates": large, "latency": latency, "latency_during_big_updates": latency_churn,
        }
        print()
        print("Large world (ZooKeeper): %s clusters x %s endpoints + 1 cluster of %s endpoints"
              % (e["LCLUSTERS"], e["LPER"], e["BIG"]))
        print("  loaded in %s s (%.2f CPU s); RSS %.1f MiB loaded vs %.1f MiB static-only "
              "(+%.1f MiB); %.1f MiB after the updates" % (
                  e.get("LOAD_S"), out_large["load_cpu_s"], rss_loaded / 1024, rss_base / 1024,
                  (rss_loaded - rss_base) / 1024, rss_after / 1024))
        print("  clusters answered only after initial_fetch_timeout (5 s): %s"
              % e.get("INITIAL_TIMEOUTS"))
        print("  idle CPU of the loaded process: %.2f ms/s" % out_large["idle_cpu_ms_per_s"])
        for what, label in (("small", "one endpoint swapped in a 10-endpoint cluster"),
                            ("big", "one endpoint swapped in the 10,000-endpoint cluster")):
            r = large.get(what)
            if not r:
                continue
            p = r["propagation"]
            print("  %-52s n=%-4d CPU %.3f ms/update; applied p50 %.2f p99 %.2f max %.2f ms; "
                  "fail %d" % (label, r["updates"], r["cpu_ms_per_update"], p["p50_ms"],
                               p["p99_ms"], p["max_ms"], r["failures"]))
        if latency:
            print("  per-connection latency through a tcp listener (connect, backend's name, "
                  "close):")
            print("    (waited %s s for the first answers: updates still being applied)"
                  % latency.get("first_answer_wait_s"))
            for n, r in latency.items():
                if n == "first_answer_wait_s":
                    continue
                print("    %-16s p50 %.3f ms  p99 %.3f ms  (%d connections, %d failed)"
                      % (n, r["p50_ms"], r["p99_ms"], r["requests"], r["failed"]))
        if latency_churn:
            print("  the same while the 10,000-endpoint cluster changes every %s s (%d updates; "
                  "1 s timeout, 30 s at most):" % (e.get("CHURN_INTERVAL"),
                                                   latency_churn.get("churn_updates", 0)))
            for n, r in latency_churn.items():
                if n in ("churn_updates", "first_answer_wait_s"):
                    continue
                if not r["requests"]:
                    print("    %-16s no connection answered within 1 s (%d tried)"
                          % (n, r["failed"]))
                    continue
                print("    %-16s p50 %.3f ms  p99 %.3f ms  max %.3f ms (%d answered, %d timed "
                      "out)" % (n, r["p50_ms"], r["p99_ms"], r["max_ms"], r["requests"],
                                r["failed"]))
            print("  RSS after that: %.1f MiB" % (num(e.get("RSS_CHURN")) / 1024))

    doc = {
        "timestamp": e["STAMP"],
        "git": e["GIT_REV"],
        "versions": {"pilotfish": e["V_PILOTFISH"].removeprefix("pilotfish "),
                     "zookeeper": e["V_ZK"], "etcd": e["V_ETCD"], "kernel": e["V_KERNEL"]},
        "cpu_model": e["CPU_MODEL"],
        "cpus_allowed": len(os.sched_getaffinity(0)),
        "loadavg": {"before": e["LOAD_BEFORE"], "after": e["LOAD_AFTER"]},
        "settings": {"changes": int(e["CHANGES"]), "workers": int(e["THREADS"]),
                     "stores": e["STORES"].split(), "large": e["LARGE"] == "1",
                     "large_updates": int(e["LUPDATES"]), "big_updates": int(e["BUPDATES"]),
                     "latency_requests_per_round": int(e["LATREQ"]),
                     "latency_rounds": int(e["LATROUNDS"])},
        "goal": {"propagation_p99_ms": GOAL_P99_MS, "met": met_all and not e.get("ETCD_NOTE")},
        "method": {
            "propagation": "one sample = time from the return of the store's write call (ZooKeeper"
                           " multi create+delete, Consul agent re-register of one service ID with"
                           " another port, etcd put, file write+rename) to the first TCP"
                           " connection through pilotfish answered by the new backend; probes are"
                           " back-to-back connections from one Python process",
            "large_updates": "one ZooKeeper multi swapping one endpoint (delete+create) per update;"
                             " propagation = until pilotfish logs the applied set; CPU = utime+"
                             "stime of pilotfish over all updates / updates (includes idle CPU)",
        },
        "propagation": prop,
        "propagation_cpu_s": int(e["PROP_TICKS"]) / hz,
        "etcd_note": e.get("ETCD_NOTE") or None,
        "large_world": out_large,
        "configs": {n: open(os.path.join(tmp, n + ".yaml")).read()
                    for n in ("pilotfish-propagation", "pilotfish-baseline")
                    if os.path.exists(os.path.join(tmp, n + ".yaml"))},
    }
    with open(out_path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print()
    print("goal (p99 propagation <= 50 ms on every store): %s"
          % ("met" if doc["goal"]["met"] else "NOT met (see rows)"))


if __name__ == "__main__":
    main(sys.argv[1])
