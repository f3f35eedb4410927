"""Helpers the bench reports share: CPU shares of one run, and ratios paired run by run."""
import statistics

KEYS = ("load_cpu_busy", "load_cpu_steal", "proxy_cpu_busy", "proxy_cpu_steal")


def cpu_shares(field):
    """field: six /proc/stat tick deltas "busy steal total" of the load CPUs, then of the proxy
    CPUs (bench/lib/common.sh cpu_mark_delta). Returns shares in 0..1, None where unknown."""
    t = [int(x) for x in field.split()]
    if len(t) != 6:
        return dict.fromkeys(KEYS)

    def share(a, total):
        return a / total if total else None

    return {"load_cpu_busy": share(t[0], t[2]), "load_cpu_steal": share(t[1], t[2]),
            "proxy_cpu_busy": share(t[3], t[5]), "proxy_cpu_steal": share(t[4], t[5])}


def paired(runs_a, runs_b, key):
    """Ratios a/b of `key` between the runs of two targets with the same run number. Each run
    measures the targets back to back, so a slow phase of the machine hits both; the spread of
    these ratios says how much of a difference between medians is noise."""
    b = {r["run"]: r[key] for r in runs_b}
    out = [r[key] / b[r["run"]] for r in runs_a
           if r[key] is not None and b.get(r["run"]) not in (None, 0)]
    if not out:
        return None
    return {"median": statistics.median(out), "min": min(out), "max": max(out), "n": len(out)}


def fmt_spread(p):
    """'1.02x [0.97-1.08]' for a paired() result, '-' for None."""
    return "-" if p is None else f"{p['median']:.2f}x [{p['min']:.2f}-{p['max']:.2f}]"
