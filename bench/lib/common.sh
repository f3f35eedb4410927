# Shared shell helpers of the bench/*.sh scripts. Source it, do not run it:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
#
# Sourcing sets ROOT, BENCH, PY, TMP (a fresh temp dir), PIDS/CHILD and installs the EXIT/INT/TERM
# traps that stop every process in PIDS (and the running run_child command) and remove TMP. The
# functions below set further globals, named in their comments.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH="$ROOT/bench"
PY=python3

log() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

# require_positive NAME...: each BENCH_NAME (held in the shell variable NAME) must be a positive
# integer.
require_positive() {
  local v
  for v in "$@"; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "BENCH_$v must be a positive integer, got '${!v}'"
  done
}

# ---- processes and cleanup ---------------------------------------------------------------------
PIDS=()   # every long-running process started; stopped (TERM, then KILL after 5 s) on exit
CHILD=""  # the measurement command running now (see run_child)
TMP=$(mktemp -d /tmp/pilotfish-bench.XXXXXX)
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local p
  [[ -n $CHILD ]] && kill "$CHILD" 2>/dev/null
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  if ((rc != 0)) && [[ -d $TMP ]]; then
    for f in "$TMP"/*.log; do
      [[ -s $f ]] && { log "--- tail of $(basename "$f")"; tail -n 15 "$f" >&2; }
    done
  fi
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run_child OUT ERR CMD...: runs CMD in the background and waits for it, so that a signal to this
# script is handled at once (bash defers traps until a foreground command ends).
run_child() {
  local out=$1 err=$2 rc=0
  shift 2
  "$@" >"$out" 2>"$err" &
  CHILD=$!
  wait "$CHILD" || rc=$?
  CHILD=""
  return "$rc"
}

# ---- dependencies and build --------------------------------------------------------------------
# need_tools TOOL...: runs scripts/install-deps.sh (unless BENCH_SKIP_DEPS=1), then checks that
# every TOOL is on PATH.
need_tools() {
  if [[ ${BENCH_SKIP_DEPS:-0} != 1 ]]; then
    "$ROOT/scripts/install-deps.sh" >&2 || die "scripts/install-deps.sh failed"
  fi
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || die "'$tool' not found (scripts/install-deps.sh installs it)"
  done
}

# build_pilotfish: Release build of the pilotfish binary in BUILD_DIR (BENCH_BUILD_DIR, default
# build-bench; incremental, tests off). Sets BUILD_DIR and PILOTFISH. With BENCH_PILOTFISH set,
# that binary is used as it is and nothing is built.
build_pilotfish() {
  if [[ -n ${BENCH_PILOTFISH:-} ]]; then
    [[ -x $BENCH_PILOTFISH ]] || die "BENCH_PILOTFISH=$BENCH_PILOTFISH is not an executable"
    PILOTFISH=$(realpath "$BENCH_PILOTFISH")
    log "using $PILOTFISH as it is (BENCH_PILOTFISH; not built)"
    return 0
  fi
  BUILD_DIR="$ROOT/${BENCH_BUILD_DIR:-build-bench}"
  if [[ ! -f $BUILD_DIR/build.ninja ]]; then
    log "configuring Release build in $BUILD_DIR"
    cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DPILOTFISH_BUILD_TESTS=OFF >"$TMP/build.log" 2>&1 || die "cmake configure failed: $(tail -n 20 "$TMP/build.log")"
  fi
  grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' "$BUILD_DIR/CMakeCache.txt" ||
    die "$BUILD_DIR is not a Release build; remove it or set BENCH_BUILD_DIR"
  log "building pilotfish (Release) in $BUILD_DIR"
  cmake --build "$BUILD_DIR" --target pilotfish >"$TMP/build.log" 2>&1 ||
    die "build failed: $(tail -n 30 "$TMP/build.log")"
  PILOTFISH="$BUILD_DIR/pilotfish"
}

# ---- CPU placement -----------------------------------------------------------------------------
# Expand a CPU list (e.g. "0-3,6") into one CPU per word.
expand_cpus() {
  local part parts out=()
  IFS=, read -ra parts <<<"$1"
  for part in "${parts[@]}"; do
    if [[ $part == *-* ]]; then out+=($(seq "${part%-*}" "${part#*-}")); else out+=("$part"); fi
  done
  echo "${out[@]}"
}
join_cpus() { local IFS=,; echo "$*"; }

# place_cpus THREADS LOAD_NAME: the proxy gets the last THREADS CPUs this shell may use, the load
# (described by LOAD_NAME, e.g. "redis-server, redis-benchmark and the bulk helpers") the others;
# with no CPU left over, everything shares all of them (and a warning says so).
# BENCH_PROXY_CPUS / BENCH_LOAD_CPUS override. Sets PROXY_CPUS, LOAD_CPUS, PINNING_NOTE, SHARED
# (1 when the proxy and the load share CPUs) and N_LOAD_CPUS.
place_cpus() {
  local threads=$1 load_name=$2 allowed n
  read -ra allowed <<<"$(expand_cpus "$(taskset -pc $$ | sed 's/.*: //')")"
  n=${#allowed[@]}
  SHARED=0
  if [[ -n ${BENCH_PROXY_CPUS:-} || -n ${BENCH_LOAD_CPUS:-} ]]; then
    PROXY_CPUS=${BENCH_PROXY_CPUS:-$(join_cpus "${allowed[@]}")}
    LOAD_CPUS=${BENCH_LOAD_CPUS:-$(join_cpus "${allowed[@]}")}
    PINNING_NOTE="set by BENCH_PROXY_CPUS/BENCH_LOAD_CPUS"
    [[ $PROXY_CPUS == "$LOAD_CPUS" ]] && SHARED=1
  elif ((n > threads)); then
    PROXY_CPUS=$(join_cpus "${allowed[@]:n-threads}")
    LOAD_CPUS=$(join_cpus "${allowed[@]:0:n-threads}")
    PINNING_NOTE="proxy alone on its CPU(s); $load_name share the rest"
  else
    PROXY_CPUS=$(join_cpus "${allowed[@]}")
    LOAD_CPUS=$PROXY_CPUS
    SHARED=1
    PINNING_NOTE="not enough CPUs to separate the proxy ($threads threads) from the load: everything shares CPUs ${PROXY_CPUS}"
    log "warning: $PINNING_NOTE"
  fi
  read -ra allowed <<<"$(expand_cpus "$LOAD_CPUS")"
  N_LOAD_CPUS=${#allowed[@]}
}

# ---- ports, start-up, CPU time -----------------------------------------------------------------
# free_ports N: N free TCP ports on 127.0.0.1, on one line.
free_ports() {
  "$PY" - "$1" <<'EOF'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
EOF
}

wait_port() {  # wait_port PORT PID NAME
  for _ in $(seq 100); do
    kill -0 "$2" 2>/dev/null || die "$3 exited during start-up"
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  die "$3 did not listen on port $1 within 10s"
}

# wait_ready ADMIN_PORT NAME: waits (10 s) for pilotfish's /ready to answer 200.
wait_ready() {
  for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$1/ready" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "$2 /ready never answered 200"
}

CLK_TCK=$(getconf CLK_TCK)
# utime+stime (clock ticks) of a process, all threads: fields 14 and 15 of /proc/PID/stat,
# counted after the ")" that ends the command name (which may contain spaces).
ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
# CPU time in nanoseconds a process has run, all its threads: the first field of each
# /proc/PID/task/*/schedstat (the scheduler's own run-time account). utime+stime above come in
# 10 ms ticks: 5 % of a 0.2 s measurement, too coarse to compare proxies that differ by less.
# cpu_ticks CPUS: "busy steal total" clock ticks from /proc/stat, summed over the CPUs of the list
# CPUS (taskset form: "0", "1-3", "0,2"). busy is user+nice+system+irq+softirq; total adds idle,
# iowait and steal. The difference of two readings tells how busy those CPUs were in between
# (whoever ran there), so a run can show whether its load side was saturated.
cpu_ticks() {
  awk -v list="$1" '
    BEGIN {
      n = split(list, parts, ",")
      for (i = 1; i <= n; i++) {
        if (split(parts[i], r, "-") == 2) { for (c = r[1]; c <= r[2]; c++) want["cpu" c] = 1 }
        else want["cpu" parts[i]] = 1
      }
    }
    $1 in want { busy += $2 + $3 + $4 + $7 + $8; steal += $9; total += $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }
    END { printf "%d %d %d\n", busy, steal, total }' /proc/stat
}

# cpu_marks: cpu_ticks of LOAD_CPUS, then of PROXY_CPUS (six numbers). cpu_mark_delta BEFORE
# AFTER: their differences, the `cpu_ticks` column of the raw results (lib/runs.py reads it).
cpu_marks() { echo "$(cpu_ticks "$LOAD_CPUS") $(cpu_ticks "$PROXY_CPUS")"; }
cpu_mark_delta() {
  local -a a b d=()
  read -r -a a <<<"$1"
  read -r -a b <<<"$2"
  local i
  for i in 0 1 2 3 4 5; do d+=($((b[i] - a[i]))); done
  echo "${d[*]}"
}

cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f\n", s}'; }

# ordered_targets RUN: the TARGETS array in its order on odd runs and reversed on even ones, so
# that whatever drifts during a run (a neighbour's load, a backend's growing state) does not always
# favour the target measured first.
ordered_targets() {
  local i
  if (($1 % 2 == 1)); then
    echo "${TARGETS[@]}"
  else
    for ((i = ${#TARGETS[@]} - 1; i >= 0; i--)); do printf '%s ' "${TARGETS[i]}"; done
    echo
  fi
}

# warn_if_busy: sets LOAD_BEFORE and warns when the machine is not idle.
warn_if_busy() {
  LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
  awk -v l="${LOAD_BEFORE%% *}" 'BEGIN { exit !(l > 0.5) }' &&
    log "warning: load average is $LOAD_BEFORE before the run: other work on this machine makes the figures noisy"
  return 0
}

# git_rev: short commit of the repo, "+dirty" when the work tree differs from it.
git_rev() {
  local rev
  rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
  git -C "$ROOT" diff --quiet HEAD 2>/dev/null || rev="$rev+dirty"
  echo "$rev"
}
