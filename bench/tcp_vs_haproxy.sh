#!/usr/bin/env bash
# pilotfish TCP mode vs HAProxy 2.6 (mode tcp) vs direct, on loopback, in one run.
#
#   bench/tcp_vs_haproxy.sh            (as root on Debian 12; see bench/README.md)
#
# Builds pilotfish (Release, build-bench/), starts redis-server, a bulk sink, HAProxy and
# pilotfish, runs redis-benchmark and a bulk transfer against each target BENCH_RUNS times
# (interleaved), and prints medians, proxy CPU per request and the ratios. Results also go to
# bench/results/<timestamp>.json. Every process it starts is stopped on exit.
#
# Environment (defaults in brackets):
#   BENCH_RUNS [3]                  repetitions of every measurement; medians are reported
#   BENCH_THREADS [1]               pilotfish `workers` = HAProxy `nbthread`
#   BENCH_REQUESTS [200000]         redis-benchmark -n, unpipelined
#   BENCH_PIPELINE [16]             redis-benchmark -P for the pipelined runs
#   BENCH_PIPELINE_REQUESTS [2000000]  redis-benchmark -n, pipelined (runs are ~10x faster)
#   BENCH_CLIENTS [50]              redis-benchmark -c
#   BENCH_BULK_BYTES [1073741824]   bytes per bulk transfer (1 GiB)
#   BENCH_PROXY_CPUS / BENCH_LOAD_CPUS   taskset CPU lists; by default the proxy gets the last
#                                   BENCH_THREADS allowed CPUs and redis, the clients and the sink
#                                   share the others
#   BENCH_BUILD_DIR [build-bench]   pilotfish build directory (relative to the repo root)
#   BENCH_SKIP_DEPS=1               do not run scripts/install-deps.sh
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"  # ROOT, BENCH, TMP, cleanup, helpers
RUNS=${BENCH_RUNS:-3}
THREADS=${BENCH_THREADS:-1}
REQUESTS=${BENCH_REQUESTS:-200000}
PIPELINE=${BENCH_PIPELINE:-16}
PIPELINE_REQUESTS=${BENCH_PIPELINE_REQUESTS:-2000000}
CLIENTS=${BENCH_CLIENTS:-50}
BULK_BYTES=${BENCH_BULK_BYTES:-1073741824}

require_positive RUNS THREADS REQUESTS PIPELINE PIPELINE_REQUESTS CLIENTS BULK_BYTES

# ---- dependencies, build, CPU placement --------------------------------------------------------
need_tools haproxy redis-server redis-benchmark redis-cli taskset cmake ninja "$PY" curl
build_pilotfish
place_cpus "$THREADS" "redis-server, redis-benchmark and the bulk helpers"
log "CPUs: proxy $PROXY_CPUS, redis+clients+sink $LOAD_CPUS"

# ---- ports and configs -------------------------------------------------------------------------
read -r P_REDIS P_SINK P_HA_REDIS P_HA_BULK P_PF_REDIS P_PF_BULK P_PF_ADMIN < <(free_ports 7)

cat >"$TMP/haproxy.cfg" <<EOF
# Equivalent of pilotfish.yaml: plain TCP forwarding, same thread count, 16 KiB buffers (the
# HAProxy default, = pilotfish's per-direction buffer), no logging, no health checks, no splice.
global
    nbthread $THREADS
    maxconn 4096
    tune.bufsize 16384

defaults
    mode tcp
    timeout connect 1s
    timeout client 1h
    timeout server 1h

frontend redis
    bind 127.0.0.1:$P_HA_REDIS
    default_backend redis

backend redis
    server redis0 127.0.0.1:$P_REDIS

frontend bulk
    bind 127.0.0.1:$P_HA_BULK
    default_backend bulk

backend bulk
    server sink0 127.0.0.1:$P_SINK
EOF

cat >"$TMP/pilotfish.yaml" <<EOF
workers: $THREADS
drain_delay: 0s
drain_timeout: 1s
admin: {address: 127.0.0.1:$P_PF_ADMIN}
log: {level: warn, format: text}
clusters:
  - name: redis
    endpoints: [127.0.0.1:$P_REDIS]
    connect_timeout: 1s
  - name: sink
    endpoints: [127.0.0.1:$P_SINK]
    connect_timeout: 1s
listeners:
  - {name: redis, address: 127.0.0.1:$P_PF_REDIS, protocol: tcp, cluster: redis, idle_timeout: 1h}
  - {name: bulk, address: 127.0.0.1:$P_PF_BULK, protocol: tcp, cluster: sink, idle_timeout: 1h}
EOF

haproxy -c -q -f "$TMP/haproxy.cfg" >"$TMP/haproxy-check.log" 2>&1 ||
  die "haproxy rejected its config: $(cat "$TMP/haproxy-check.log")"
"$PILOTFISH" validate -c "$TMP/pilotfish.yaml" >"$TMP/pilotfish-validate.log" 2>&1 ||
  die "pilotfish rejected its config: $(cat "$TMP/pilotfish-validate.log")"

# ---- start everything --------------------------------------------------------------------------
taskset -c "$LOAD_CPUS" redis-server --bind 127.0.0.1 --port "$P_REDIS" --save '' \
  --appendonly no --protected-mode no --daemonize no --logfile "$TMP/redis.log" &
REDIS_PID=$!; PIDS+=("$REDIS_PID")
taskset -c "$LOAD_CPUS" "$PY" "$BENCH/lib/bulk.py" sink 127.0.0.1 "$P_SINK" >"$TMP/sink.log" 2>&1 &
SINK_PID=$!; PIDS+=("$SINK_PID")
taskset -c "$PROXY_CPUS" haproxy -db -f "$TMP/haproxy.cfg" >"$TMP/haproxy.log" 2>&1 &
HAPROXY_PID=$!; PIDS+=("$HAPROXY_PID")
taskset -c "$PROXY_CPUS" "$PILOTFISH" run -c "$TMP/pilotfish.yaml" >"$TMP/pilotfish.log" 2>&1 &
PILOTFISH_PID=$!; PIDS+=("$PILOTFISH_PID")

wait_port "$P_REDIS" "$REDIS_PID" redis-server
wait_port "$P_SINK" "$SINK_PID" "bulk sink"
wait_port "$P_HA_REDIS" "$HAPROXY_PID" haproxy
wait_port "$P_HA_BULK" "$HAPROXY_PID" haproxy
wait_port "$P_PF_REDIS" "$PILOTFISH_PID" pilotfish
wait_port "$P_PF_BULK" "$PILOTFISH_PID" pilotfish
wait_ready "$P_PF_ADMIN" pilotfish

for p in "$P_REDIS" "$P_HA_REDIS" "$P_PF_REDIS"; do
  [[ $(redis-cli -h 127.0.0.1 -p "$p" ping) == PONG ]] || die "redis PING through port $p failed"
done

# ---- measurements ------------------------------------------------------------------------------
declare -A REDIS_PORT=([direct]=$P_REDIS [haproxy]=$P_HA_REDIS [pilotfish]=$P_PF_REDIS)
declare -A BULK_PORT=([direct]=$P_SINK [haproxy]=$P_HA_BULK [pilotfish]=$P_PF_BULK)
declare -A PROXY_PID=([direct]="" [haproxy]=$HAPROXY_PID [pilotfish]=$PILOTFISH_PID)
TARGETS=(direct haproxy pilotfish)
RAW="$TMP/raw.tsv"
: >"$RAW"

proxy_cpu() { [[ -n ${PROXY_PID[$1]} ]] && cpu_ns "${PROXY_PID[$1]}" || echo 0; }
check_alive() {
  local p
  for p in "$REDIS_PID" "$SINK_PID" "$HAPROXY_PID" "$PILOTFISH_PID"; do
    kill -0 "$p" 2>/dev/null || die "process $p died during the benchmark"
  done
}

# redis_run TARGET TEST(set|get) N PIPELINE RUN  -> appends one line to $RAW
redis_run() {
  local target=$1 test=$2 n=$3 pipe=$4 run=$5 name=$2 out p0 p1 b0 b1 line rps p50 m0 m1
  ((pipe > 1)) && name="$test-P$pipe"
  p0=$(proxy_cpu "$target"); b0=$(cpu_ns "$REDIS_PID"); m0=$(cpu_marks)
  run_child "$TMP/out" "$TMP/redis-benchmark.log" timeout 600 taskset -c "$LOAD_CPUS" \
    redis-benchmark -h 127.0.0.1 -p "${REDIS_PORT[$target]}" -t "$test" -n "$n" -c "$CLIENTS" \
    -P "$pipe" --csv || die "redis-benchmark against $target failed: $(cat "$TMP/redis-benchmark.log")"
  out=$(<"$TMP/out")
  m1=$(cpu_marks); p1=$(proxy_cpu "$target"); b1=$(cpu_ns "$REDIS_PID")
  line=$(grep -i "^\"$test\"" <<<"$out" | head -n 1)
  [[ -n $line ]] || die "unexpected redis-benchmark output: $out"
  rps=$(cut -d, -f2 <<<"$line" | tr -d '"'); p50=$(cut -d, -f5 <<<"$line" | tr -d '"')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$target" "$name" "$run" "$n" "$rps" \
    "$((p1 - p0))" "$((b1 - b0))" "$p50" "$(cpu_mark_delta "$m0" "$m1")" >>"$RAW"
  log "run $run/$RUNS  $(printf '%-10s %-9s' "$target" "$name") $(printf '%12.0f req/s' "$rps")  proxy cpu $(((p1 - p0) / 1000000)) ms"
}

# bulk_run TARGET RUN -> appends one line to $RAW
bulk_run() {
  local target=$1 run=$2 out p0 p1 b0 b1 secs mbs m0 m1
  p0=$(proxy_cpu "$target"); b0=$(cpu_ns "$SINK_PID"); m0=$(cpu_marks)
  run_child "$TMP/out" "$TMP/bulk-send.log" timeout 600 taskset -c "$LOAD_CPUS" \
    "$PY" "$BENCH/lib/bulk.py" send 127.0.0.1 "${BULK_PORT[$target]}" "$BULK_BYTES" ||
    die "bulk transfer through $target failed: $(cat "$TMP/bulk-send.log")"
  out=$(<"$TMP/out")
  m1=$(cpu_marks); p1=$(proxy_cpu "$target"); b1=$(cpu_ns "$SINK_PID")
  secs=$(sed -n 's/.*"seconds": *\([0-9.eE+-]*\).*/\1/p' <<<"$out")
  mbs=$(awk -v b="$BULK_BYTES" -v s="$secs" 'BEGIN { printf "%.3f", b / s / 1e6 }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$target" bulk "$run" "$BULK_BYTES" "$mbs" \
    "$((p1 - p0))" "$((b1 - b0))" "" "$(cpu_mark_delta "$m0" "$m1")" >>"$RAW"
  log "run $run/$RUNS  $(printf '%-10s %-9s' "$target" bulk) $(printf '%12.1f MB/s ' "$mbs")  proxy cpu $(((p1 - p0) / 1000000)) ms"
}

warn_if_busy
log "warm-up"
for t in "${TARGETS[@]}"; do
  run_child /dev/null "$TMP/warm-up.log" timeout 600 taskset -c "$LOAD_CPUS" redis-benchmark \
    -h 127.0.0.1 -p "${REDIS_PORT[$t]}" -t set,get -n 20000 -c "$CLIENTS" -q ||
    die "warm-up against $t failed: $(cat "$TMP/warm-up.log")"
  run_child /dev/null "$TMP/warm-up.log" timeout 600 taskset -c "$LOAD_CPUS" \
    "$PY" "$BENCH/lib/bulk.py" send 127.0.0.1 "${BULK_PORT[$t]}" $((64 << 20)) ||
    die "bulk warm-up through $t failed: $(cat "$TMP/warm-up.log")"
done

# Interleaved: every run measures each test on each target back to back, so that a slow phase of
# the machine hits all three targets alike instead of one of them; the order flips on every other
# run (ordered_targets), so that no target is always measured first.
for run in $(seq "$RUNS"); do
  for spec in "set 1 $REQUESTS" "get 1 $REQUESTS" "set $PIPELINE $PIPELINE_REQUESTS" \
              "get $PIPELINE $PIPELINE_REQUESTS"; do
    read -r test pipe n <<<"$spec"
    for t in $(ordered_targets "$run"); do redis_run "$t" "$test" "$n" "$pipe" "$run"; check_alive; done
  done
  for t in $(ordered_targets "$run"); do bulk_run "$t" "$run"; check_alive; done
done

# ---- report ------------------------------------------------------------------------------------
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$BENCH/results"
OUT="$BENCH/results/$STAMP.json"
GIT_REV=$(git_rev)
export STAMP RUNS THREADS REQUESTS PIPELINE PIPELINE_REQUESTS CLIENTS BULK_BYTES CLK_TCK GIT_REV \
  PROXY_CPUS LOAD_CPUS PINNING_NOTE LOAD_BEFORE LOAD_AFTER
export V_PILOTFISH=$("$PILOTFISH" --version | head -n 1)
export V_HAPROXY=$(haproxy -v | head -n 1 | awk '{print "HAProxy " $3}')
export V_REDIS=$(redis-server --version | awk '{print $3}' | sed 's/^v=//')
export V_KERNEL=$(uname -r)
export CPU_MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
"$PY" - >"$TMP/meta.json" <<'EOF'
import json, os
e = os.environ
print(json.dumps({
    "timestamp": e["STAMP"],
    "git": e["GIT_REV"],
    "versions": {"pilotfish": e["V_PILOTFISH"].removeprefix("pilotfish "), "haproxy": e["V_HAPROXY"],
                 "redis": e["V_REDIS"], "kernel": e["V_KERNEL"]},
    "cpu_model": e["CPU_MODEL"],
    "cpus_allowed": os.sched_getaffinity(0).__len__(),
    "clock_ticks_per_second": int(e["CLK_TCK"]),
    "loadavg": {"before": e["LOAD_BEFORE"], "after": e["LOAD_AFTER"]},
    "settings": {"runs": int(e["RUNS"]), "threads": int(e["THREADS"]), "requests": int(e["REQUESTS"]),
                 "pipeline": int(e["PIPELINE"]), "pipeline_requests": int(e["PIPELINE_REQUESTS"]),
                 "clients": int(e["CLIENTS"]), "bulk_bytes": int(e["BULK_BYTES"])},
    "pinning": {"proxy_cpus": e["PROXY_CPUS"], "load_cpus": e["LOAD_CPUS"], "note": e["PINNING_NOTE"]},
    "units": {"rate": "req/s for redis tests, MB/s (10^6 bytes/s) for bulk",
              "cpu": "proxy run time (schedstat) in microseconds per request (redis) or per MiB (bulk)"},
}))
EOF
echo
"$PY" "$BENCH/lib/report.py" "$RAW" "$TMP/meta.json" "$OUT"
echo
echo "results: ${OUT#"$ROOT"/}"
