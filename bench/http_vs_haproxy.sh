#!/usr/bin/env bash
# pilotfish HTTP/1.1 vs HAProxy 2.6 (mode http) vs nginx (reverse proxy) vs direct, on loopback.
#
#   bench/http_vs_haproxy.sh            (as root on Debian 12; see bench/README.md)
#
# Builds pilotfish (Release, build-bench/), starts a backend nginx (a small `return 200` body and a
# 10 KiB static file), HAProxy, an nginx reverse proxy and two pilotfish instances (lean: no
# tracing, no access log; full: b3+w3c propagation, request IDs, sample rate 1, JSON access log),
# runs wrk against each target BENCH_RUNS times (interleaved) in three scenarios (small keepalive,
# 10 KiB keepalive, a new connection per request), and prints medians of req/s, p50, p99, proxy
# CPU per request and the ratios. Results also go to bench/results/http-<timestamp>.json. Every
# process it starts is stopped on exit.
#
# Environment (defaults in brackets):
#   BENCH_RUNS [3]                  repetitions of every measurement; medians are reported
#   BENCH_THREADS [1]               pilotfish `workers` = HAProxy `nbthread` = nginx `worker_processes`
#   BENCH_DURATION [10]             seconds per wrk run (wrk -d)
#   BENCH_CONNECTIONS [50]          wrk -c (wrk runs one thread, -t1)
#   BENCH_SCENARIOS ["small 10k close"]  which scenarios to run, in that order
#   BENCH_PROXY_CPUS / BENCH_LOAD_CPUS   taskset CPU lists; by default the proxy gets the last
#                                   BENCH_THREADS allowed CPUs and wrk and the backend nginx share
#                                   the others
#   BENCH_BUILD_DIR [build-bench]   pilotfish build directory (relative to the repo root)
#   BENCH_SKIP_DEPS=1               do not run scripts/install-deps.sh
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"  # ROOT, BENCH, TMP, cleanup, helpers
RUNS=${BENCH_RUNS:-3}
THREADS=${BENCH_THREADS:-1}
DURATION=${BENCH_DURATION:-10}
CONNECTIONS=${BENCH_CONNECTIONS:-50}

require_positive RUNS THREADS DURATION CONNECTIONS
# HAProxy refuses to start when maxconn needs more file descriptors than the hard limit allows
# (20000 in some sandboxes); 4000 is far above what wrk opens.
HA_MAXCONN=4000
((CONNECTIONS <= HA_MAXCONN / 2)) || die "BENCH_CONNECTIONS must be at most $((HA_MAXCONN / 2))"

# ---- dependencies, build, CPU placement --------------------------------------------------------
need_tools haproxy nginx wrk taskset cmake ninja "$PY" curl pgrep
build_pilotfish
place_cpus "$THREADS" "wrk and the backend nginx"
log "CPUs: proxy $PROXY_CPUS, wrk+backend $LOAD_CPUS"

# ---- ports, content and configs ----------------------------------------------------------------
read -r P_BACKEND P_STATUS P_HA P_NGX P_PF P_PF_ADMIN P_PFF P_PFF_ADMIN < <(free_ports 8)

SMALL_BODY="hello, world"  # + "\n": 13 bytes
SMALL_BYTES=$((${#SMALL_BODY} + 1))
BIG_BYTES=10240
mkdir -p "$TMP/www/files" "$TMP/nginx-backend" "$TMP/nginx-proxy"
head -c "$BIG_BYTES" /dev/urandom >"$TMP/www/files/10k"
# As root, nginx workers would run as nobody, who cannot enter the private temp dir.
NGINX_USER=""
(($(id -u) == 0)) && NGINX_USER="user root;"

# Backend: one server for the benchmark, one for stub_status (connections and requests it served,
# to see how many upstream connections each proxy opens). /headers shows what a proxy sent.
cat >"$TMP/nginx-backend/nginx.conf" <<EOF
$NGINX_USER
daemon off;
worker_processes $N_LOAD_CPUS;
pid $TMP/nginx-backend/nginx.pid;
error_log $TMP/nginx-backend.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    server_tokens off;
    default_type text/plain;
    sendfile on;
    tcp_nopush on;
    open_file_cache max=16;
    keepalive_requests 100000000;
    keepalive_timeout 75s;
    server {
        listen 127.0.0.1:$P_BACKEND backlog=4096;
        location = / { return 200 "$SMALL_BODY\n"; }
        location /files/ { root $TMP/www; }
        location = /headers {
            return 200 "traceparent=[\$http_traceparent] b3=[\$http_x_b3_traceid] x-request-id=[\$http_x_request_id] x-forwarded-for=[\$http_x_forwarded_for]\n";
        }
    }
    server {
        listen 127.0.0.1:$P_STATUS;
        location / { stub_status; }
    }
}
EOF

# nginx as a reverse proxy, set up for upstream keepalive (without proxy_http_version 1.1 and an
# empty Connection header nginx opens a new upstream connection per request).
cat >"$TMP/nginx-proxy/nginx.conf" <<EOF
$NGINX_USER
daemon off;
worker_processes $THREADS;
pid $TMP/nginx-proxy/nginx.pid;
error_log $TMP/nginx-proxy.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    server_tokens off;
    keepalive_requests 100000000;
    keepalive_timeout 1h;
    upstream backend {
        server 127.0.0.1:$P_BACKEND;
        keepalive 64;
        keepalive_requests 100000000;
        keepalive_timeout 50s;
    }
    server {
        listen 127.0.0.1:$P_NGX reuseport backlog=4096;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_connect_timeout 1s;
        }
    }
}
EOF

cat >"$TMP/haproxy.cfg" <<EOF
# Equivalent of pilotfish-lean.yaml: one backend, same thread count, upstream connections reused
# by any client (http-reuse always), X-Forwarded-For/-Proto like pilotfish, no logging, no checks.
global
    nbthread $THREADS
    maxconn $HA_MAXCONN
    tune.bufsize 16384

defaults
    mode http
    option http-keep-alive
    option forwardfor
    http-reuse always
    timeout connect 1s
    timeout client 1h
    timeout server 1h
    timeout http-request 10s
    timeout http-keep-alive 1h

frontend web
    bind 127.0.0.1:$P_HA
    http-request set-header X-Forwarded-Proto http
    default_backend backend

backend backend
    server backend0 127.0.0.1:$P_BACKEND
EOF

# pilotfish_config NAME PORT ADMIN_PORT EXTRA: an http listener with one catch-all route
# (`cluster:`), cluster pool defaults.
pilotfish_config() {
  cat >"$TMP/$1.yaml" <<EOF
workers: $THREADS
drain_delay: 0s
drain_timeout: 1s
admin: {address: 127.0.0.1:$3}
log: {level: warn, format: text}
$4
clusters:
  - name: backend
    endpoints: [127.0.0.1:$P_BACKEND]
    connect_timeout: 1s
listeners:
  - {name: web, address: 127.0.0.1:$2, protocol: http, cluster: backend, idle_timeout: 1h}
EOF
}
ACCESS_LOG="$TMP/access-log.json"
pilotfish_config pilotfish-lean "$P_PF" "$P_PF_ADMIN" \
  "tracing: {propagate: [], request_id: false}"
pilotfish_config pilotfish-full "$P_PFF" "$P_PFF_ADMIN" \
  "tracing: {propagate: [b3, w3c], request_id: true, sample_rate: 1.0}
access_log: {path: $ACCESS_LOG, format: json}"

haproxy -c -q -f "$TMP/haproxy.cfg" >"$TMP/haproxy-check.log" 2>&1 ||
  die "haproxy rejected its config: $(cat "$TMP/haproxy-check.log")"
for n in backend proxy; do
  nginx -t -q -p "$TMP/nginx-$n/" -e "$TMP/nginx-$n.log" -c "$TMP/nginx-$n/nginx.conf" \
    >"$TMP/nginx-check.log" 2>&1 || die "nginx rejected the $n config: $(cat "$TMP/nginx-check.log")"
done
for n in pilotfish-lean pilotfish-full; do
  "$PILOTFISH" validate -c "$TMP/$n.yaml" >"$TMP/pilotfish-validate.log" 2>&1 ||
    die "pilotfish rejected $n.yaml (does this build have http listeners?): $(cat "$TMP/pilotfish-validate.log")"
done

# ---- start everything --------------------------------------------------------------------------
# start_nginx NAME CPUS PORT: nginx in the foreground (master + workers); the workers' pids go to
# PIDS too, and into NGINX_PIDS_<NAME> (master first) for the CPU time.
start_nginx() {
  local name=$1 cpus=$2 port=$3 master workers want
  taskset -c "$cpus" nginx -p "$TMP/nginx-$name/" -e "$TMP/nginx-$name.log" \
    -c "$TMP/nginx-$name/nginx.conf" >"$TMP/nginx-$name-stderr.log" 2>&1 &
  master=$!; PIDS+=("$master")
  wait_port "$port" "$master" "nginx ($name)"
  want=$(awk '/^worker_processes/ {print $2 + 0}' "$TMP/nginx-$name/nginx.conf")
  for _ in $(seq 50); do
    workers=$(pgrep -P "$master" | tr '\n' ' ')
    (($(wc -w <<<"$workers") == want)) && break
    sleep 0.1
  done
  (($(wc -w <<<"$workers") == want)) || die "nginx ($name) has workers '$workers', expected $want"
  for p in $workers; do PIDS+=("$p"); done
  printf -v "NGINX_PIDS_${name^^}" '%s' "$master $workers"
}

start_nginx backend "$LOAD_CPUS" "$P_BACKEND"
BACKEND_PID=${NGINX_PIDS_BACKEND%% *}
taskset -c "$PROXY_CPUS" haproxy -db -f "$TMP/haproxy.cfg" >"$TMP/haproxy.log" 2>&1 &
HAPROXY_PID=$!; PIDS+=("$HAPROXY_PID")
start_nginx proxy "$PROXY_CPUS" "$P_NGX"
taskset -c "$PROXY_CPUS" "$PILOTFISH" run -c "$TMP/pilotfish-lean.yaml" >"$TMP/pilotfish-lean.log" 2>&1 &
PF_PID=$!; PIDS+=("$PF_PID")
taskset -c "$PROXY_CPUS" "$PILOTFISH" run -c "$TMP/pilotfish-full.yaml" >"$TMP/pilotfish-full.log" 2>&1 &
PFF_PID=$!; PIDS+=("$PFF_PID")

wait_port "$P_STATUS" "$BACKEND_PID" "nginx (backend status)"
wait_port "$P_HA" "$HAPROXY_PID" haproxy
wait_port "$P_PF" "$PF_PID" "pilotfish (lean)"
wait_port "$P_PFF" "$PFF_PID" "pilotfish (full)"
wait_ready "$P_PF_ADMIN" "pilotfish (lean)"
wait_ready "$P_PFF_ADMIN" "pilotfish (full)"

TARGETS=(direct haproxy nginx pilotfish pilotfish-full)
declare -A PORT=([direct]=$P_BACKEND [haproxy]=$P_HA [nginx]=$P_NGX [pilotfish]=$P_PF
                 [pilotfish-full]=$P_PFF)
declare -A PROXY_PIDS=([direct]="" [haproxy]=$HAPROXY_PID [nginx]=$NGINX_PIDS_PROXY
                       [pilotfish]=$PF_PID [pilotfish-full]=$PFF_PID)

# ---- probes: every target answers 200 with the right body, the configs do what they claim -------
# probe TARGET PATH BYTES [CURL ARGS...]: one request; fails unless 200 with a BYTES-byte body.
# Leaves the headers in $TMP/probe.head and the body in $TMP/probe.body.
probe() {
  local target=$1 path=$2 bytes=$3 got
  shift 3
  got=$(curl -sS --max-time 5 -D "$TMP/probe.head" -o "$TMP/probe.body" -w '%{http_code} %{size_download}' \
    "$@" "http://127.0.0.1:${PORT[$target]}$path" 2>"$TMP/probe.err") ||
    die "$target did not answer GET $path: $(cat "$TMP/probe.err")"
  [[ $got == "200 $bytes" ]] ||
    die "$target answered GET $path with status and size '$got', expected '200 $bytes': $(head -c 300 "$TMP/probe.body")"
}
for t in "${TARGETS[@]}"; do
  probe "$t" / "$SMALL_BYTES"
  [[ $(<"$TMP/probe.body") == "$SMALL_BODY" ]] || die "$t: unexpected body for GET /"
  probe "$t" /files/10k "$BIG_BYTES"
  cmp -s "$TMP/probe.body" "$TMP/www/files/10k" || die "$t: GET /files/10k body differs from the file"
  probe "$t" / "$SMALL_BYTES" -H 'Connection: close'
  grep -qi '^connection: *close' "$TMP/probe.head" ||
    die "$t: no 'Connection: close' in the answer to a request with 'Connection: close'"
done
for t in pilotfish pilotfish-full; do
  curl -fsS --max-time 5 -D "$TMP/probe.head" -o "$TMP/probe.body" "http://127.0.0.1:${PORT[$t]}/headers" ||
    die "$t did not answer GET /headers"
  body=$(<"$TMP/probe.body")
  if [[ $t == pilotfish ]]; then
    [[ $body == *"traceparent=[]"* && $body == *"b3=[]"* && $body == *"x-request-id=[]"* ]] ||
      die "lean pilotfish still sends tracing headers upstream: $body"
    ! grep -qi '^x-request-id:' "$TMP/probe.head" || die "lean pilotfish still returns x-request-id"
  else
    [[ $body != *"traceparent=[]"* && $body != *"b3=[]"* && $body != *"x-request-id=[]"* ]] ||
      die "full pilotfish does not send traceparent, b3 and x-request-id upstream: $body"
    grep -qi '^x-request-id:' "$TMP/probe.head" || die "full pilotfish does not return x-request-id"
  fi
  [[ $body == *"x-forwarded-for=[127.0.0.1]"* ]] || die "$t: unexpected x-forwarded-for: $body"
done
for _ in $(seq 50); do [[ -s $ACCESS_LOG ]] && break; sleep 0.1; done
grep -q '"path": *"/headers"' "$ACCESS_LOG" 2>/dev/null ||
  die "full pilotfish wrote no access log line for GET /headers to $ACCESS_LOG"
log "probes passed: every target answers 200 with the expected bodies"

# ---- measurements ------------------------------------------------------------------------------
sum_cpu() { local p s=0; for p in "$@"; do s=$((s + $(cpu_ns "$p"))); done; echo "$s"; }
proxy_cpu() { [[ -n ${PROXY_PIDS[$1]} ]] && sum_cpu ${PROXY_PIDS[$1]} || echo 0; }
# backend_status: "accepts requests" of the backend nginx so far (this status request included:
# the difference of two readings is one connection and one request more than came in between).
backend_status() {
  curl -fsS --max-time 5 "http://127.0.0.1:$P_STATUS/" | awk 'NR == 3 {print $1, $3}' ||
    die "backend stub_status did not answer"
}
check_alive() {
  local p
  for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null || die "process $p died during the benchmark"; done
}

declare -A SCENARIO_PATH=([small]=/ [10k]=/files/10k [close]=/)
declare -A SCENARIO_ARGS=([small]="" [10k]="" [close]="Connection: close")
read -r -a SCENARIOS <<<"${BENCH_SCENARIOS:-small 10k close}"
for s in "${SCENARIOS[@]}"; do
  [[ -n ${SCENARIO_PATH[$s]+x} ]] || die "BENCH_SCENARIOS: unknown scenario '$s' (small, 10k, close)"
done
RAW="$TMP/raw.tsv"
: >"$RAW"

# wrk_run TARGET SCENARIO SECONDS OUT: one wrk run, output in OUT.
wrk_run() {
  local target=$1 scenario=$2 secs=$3 out=$4 args=(-t1 -c"$CONNECTIONS" -d"${3}s" --latency)
  [[ -n ${SCENARIO_ARGS[$scenario]} ]] && args+=(-H "${SCENARIO_ARGS[$scenario]}")
  run_child "$out" "$TMP/wrk.log" timeout $((secs + 60)) taskset -c "$LOAD_CPUS" \
    wrk "${args[@]}" "http://127.0.0.1:${PORT[$target]}${SCENARIO_PATH[$scenario]}" ||
    die "wrk against $target ($scenario) failed: $(cat "$TMP/wrk.log" "$out")"
  # Anything but 2xx/3xx is an error: every answer must be the backend's 200.
  ! grep -q 'Non-2xx' "$out" || die "$target ($scenario): wrk saw error statuses: $(cat "$out")"
  grep -q '^Requests/sec:' "$out" || die "unexpected wrk output against $target: $(cat "$out")"
  ! grep -q '^ *0 requests in' "$out" || die "wrk got no answer from $target ($scenario): $(cat "$out")"
}

# Parses wrk output: requests seconds rps p50_us p99_us socket_errors.
parse_wrk() {
  awk '
    function us(v) {
      if (v ~ /us$/) return v + 0
      if (v ~ /ms$/) return v * 1000
      if (v ~ /m$/) return v * 60e6
      if (v ~ /h$/) return v * 3600e6
      if (v ~ /s$/) return v * 1e6
      return v + 0
    }
    / requests in / { n = $1; s = $4; sub(/s,$/, "", s) }
    $1 == "50%" { p50 = us($2) }
    $1 == "99%" { p99 = us($2) }
    /^ *Socket errors:/ { gsub(/,/, ""); err = $4 + $6 + $8 + $10 }
    /^Requests\/sec:/ { rps = $2 }
    END { printf "%d %s %s %.1f %.1f %d\n", n, s, rps, p50, p99, err + 0 }' "$1"
}

# measure TARGET SCENARIO RUN -> appends one line to $RAW
measure() {
  local target=$1 scenario=$2 run=$3 st p0 p1 b0 b1 c0 r0 c1 r1 n secs rps p50 p99 err alog=""
  local m0 m1
  st=$(backend_status); read -r c0 r0 <<<"$st"
  p0=$(proxy_cpu "$target"); b0=$(sum_cpu $NGINX_PIDS_BACKEND)
  m0=$(cpu_marks)
  wrk_run "$target" "$scenario" "$DURATION" "$TMP/out"
  m1=$(cpu_marks)
  p1=$(proxy_cpu "$target"); b1=$(sum_cpu $NGINX_PIDS_BACKEND)
  st=$(backend_status); read -r c1 r1 <<<"$st"
  read -r n secs rps p50 p99 err < <(parse_wrk "$TMP/out")
  # Every answer wrk counted must have come from the backend, not from the proxy itself.
  ((r1 - r0 - 1 >= n)) ||
    die "$target ($scenario): wrk got $n answers but the backend served only $((r1 - r0 - 1)) requests"
  ((err == 0)) || log "warning: $target ($scenario): wrk socket errors: $(grep 'Socket errors' "$TMP/out")"
  if [[ $target == pilotfish-full ]]; then
    # The access log is written asynchronously: count what arrived, then start afresh.
    sleep 0.2
    alog=$(wc -l <"$ACCESS_LOG")
    ((alog > 0)) || die "full pilotfish wrote no access log during the run"
    : >"$ACCESS_LOG"
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$target" "$scenario" "$run" \
    "$n" "$secs" "$rps" "$p50" "$p99" "$((p1 - p0))" "$((b1 - b0))" "$err" "$((c1 - c0 - 1))" \
    "$((r1 - r0 - 1))" "$alog" \
    "$(cpu_mark_delta "$m0" "$m1")" >>"$RAW"
  log "run $run/$RUNS  $(printf '%-14s %-6s' "$target" "$scenario") $(printf '%10.0f req/s  p99 %8.0f us' "$rps" "$p99")  proxy cpu $(((p1 - p0) / 1000000)) ms"
}

warn_if_busy
log "warm-up"
for s in "${SCENARIOS[@]}"; do
  for t in "${TARGETS[@]}"; do wrk_run "$t" "$s" 1 "$TMP/warm-up.out"; done
done
: >"$ACCESS_LOG"

# Interleaved: every run measures each scenario on each target back to back, so that a slow phase
# of the machine hits all targets alike instead of one of them; the order flips on every other run
# (ordered_targets), so that no target is always measured first.
for run in $(seq "$RUNS"); do
  for s in "${SCENARIOS[@]}"; do
    for t in $(ordered_targets "$run"); do measure "$t" "$s" "$run"; check_alive; done
  done
done

# ---- report ------------------------------------------------------------------------------------
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$BENCH/results"
OUT="$BENCH/results/http-$STAMP.json"
GIT_REV=$(git_rev)
export STAMP RUNS THREADS DURATION CONNECTIONS CLK_TCK GIT_REV PROXY_CPUS LOAD_CPUS PINNING_NOTE \
  SHARED LOAD_BEFORE LOAD_AFTER SMALL_BYTES BIG_BYTES N_LOAD_CPUS HA_MAXCONN
export V_PILOTFISH=$("$PILOTFISH" --version | head -n 1)
export V_HAPROXY=$(haproxy -v | head -n 1 | awk '{print "HAProxy " $3}')
export V_NGINX=$(nginx -v 2>&1 | sed 's/.*nginx\//nginx /')
export V_WRK=$(wrk -v 2>&1 | head -n 1 | awk '{print $2}')
export V_KERNEL=$(uname -r)
export CPU_MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
export CONFIGS=$("$PY" -c 'import json, sys; print(json.dumps({n: open(f).read() for n, f in zip(sys.argv[1::2], sys.argv[2::2])}))' \
  haproxy "$TMP/haproxy.cfg" nginx-proxy "$TMP/nginx-proxy/nginx.conf" \
  nginx-backend "$TMP/nginx-backend/nginx.conf" pilotfish "$TMP/pilotfish-lean.yaml" \
  pilotfish-full "$TMP/pilotfish-full.yaml")
"$PY" - >"$TMP/meta.json" <<'EOF'
import json, os
e = os.environ
print(json.dumps({
    "timestamp": e["STAMP"],
    "git": e["GIT_REV"],
    "versions": {"pilotfish": e["V_PILOTFISH"].removeprefix("pilotfish "), "haproxy": e["V_HAPROXY"],
                 "nginx": e["V_NGINX"], "wrk": e["V_WRK"], "kernel": e["V_KERNEL"]},
    "cpu_model": e["CPU_MODEL"],
    "cpus_allowed": os.sched_getaffinity(0).__len__(),
    "clock_ticks_per_second": int(e["CLK_TCK"]),
    "loadavg": {"before": e["LOAD_BEFORE"], "after": e["LOAD_AFTER"]},
    "settings": {"runs": int(e["RUNS"]), "threads": int(e["THREADS"]),
                 "duration_s": int(e["DURATION"]), "connections": int(e["CONNECTIONS"]),
                 "wrk_threads": 1, "small_body_bytes": int(e["SMALL_BYTES"]),
                 "big_body_bytes": int(e["BIG_BYTES"]), "backend_workers": int(e["N_LOAD_CPUS"]),
                 "haproxy_maxconn": int(e["HA_MAXCONN"])},
    "pinning": {"proxy_cpus": e["PROXY_CPUS"], "load_cpus": e["LOAD_CPUS"],
                "shared": e["SHARED"] == "1", "note": e["PINNING_NOTE"]},
    "units": {"rate": "requests/s (wrk)", "latency": "microseconds (wrk --latency percentiles)",
              "cpu": "proxy run time (schedstat) in microseconds per request, all threads/processes"},
    "configs": json.loads(e["CONFIGS"]),
}))
EOF
echo
"$PY" "$BENCH/lib/http_report.py" "$RAW" "$TMP/meta.json" "$OUT"
echo
echo "results: ${OUT#"$ROOT"/}"
