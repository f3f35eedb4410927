#!/usr/bin/env bash
# Discovery benchmark: propagation latency (store commit -> first connection routed to the new
# endpoint) for ZooKeeper, Consul, etcd and file, and the cost of a large world (1,000 clusters x
# 10 endpoints plus one cluster of 10,000 endpoints, in ZooKeeper): RSS, CPU per update,
# propagation of an update of the 10,000-endpoint cluster, per-connection latency.
#
#   bench/discovery.sh
#   BENCH_SKIP_DEPS=1 BENCH_PILOTFISH=build-bench/pilotfish bench/discovery.sh
#
# Knobs: BENCH_CHANGES (100) switches per store; BENCH_STORES ("zookeeper consul etcd file"; etcd
# only when its watcher is committed, else a TODO row); BENCH_THREADS (1) pilotfish workers;
# BENCH_LARGE (1; 0 skips the large world); BENCH_LARGE_CLUSTERS (1000), BENCH_LARGE_PER_CLUSTER
# (10), BENCH_BIG (10000); BENCH_LARGE_UPDATES (200) and BENCH_BIG_UPDATES (50) updates;
# BENCH_LAT_REQUESTS (1000) connections per target per round, BENCH_LAT_ROUNDS (3);
# BENCH_SKIP_DEPS=1, BENCH_PILOTFISH, BENCH_BUILD_DIR as in the other scripts.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

CHANGES=${BENCH_CHANGES:-100}
STORES=${BENCH_STORES:-zookeeper consul etcd file}
THREADS=${BENCH_THREADS:-1}
LARGE=${BENCH_LARGE:-1}
LCLUSTERS=${BENCH_LARGE_CLUSTERS:-1000}
LPER=${BENCH_LARGE_PER_CLUSTER:-10}
BIG=${BENCH_BIG:-10000}
LUPDATES=${BENCH_LARGE_UPDATES:-200}
BUPDATES=${BENCH_BIG_UPDATES:-50}
LATREQ=${BENCH_LAT_REQUESTS:-1000}
LATROUNDS=${BENCH_LAT_ROUNDS:-3}
require_positive CHANGES THREADS LCLUSTERS LPER BIG LUPDATES BUPDATES LATREQ LATROUNDS

# kazoo is a Debian package: the system interpreter, not whatever python3 is first on PATH.
KPY=/usr/bin/python3
DRIVER="$BENCH/lib/discovery.py"
need_tools java curl nc
"$KPY" -c 'import kazoo' 2>/dev/null || die "python3-kazoo missing for $KPY (scripts/install-deps.sh installs it)"

# etcd only when its watcher is on this commit; otherwise the report carries a TODO row.
ETCD_NOTE=""
if [[ " $STORES " == *" etcd "* ]]; then
  if git -C "$ROOT" cat-file -e HEAD:src/discovery/etcd_watcher.cc 2>/dev/null; then
    need_tools etcd
  else
    STORES=${STORES//etcd/}
    ETCD_NOTE="TODO: the etcd watcher is not committed at $(git_rev); etcd not measured"
    log "$ETCD_NOTE"
  fi
fi
build_pilotfish
warn_if_busy

# ---- stores and backends -----------------------------------------------------------------------
read -r P_ZK P_CONSUL P_ETCD P_ETCD_PEER P_ADMIN P_BIG_BACKEND P_LADMIN P_BADMIN <<<"$(free_ports 8)"

mkdir -p "$TMP/zk/data"
cat >"$TMP/zk/zoo.cfg" <<EOF
tickTime=2000
dataDir=$TMP/zk/data
clientPort=$P_ZK
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr,stat
EOF
# jute.maxbuffer: the 10,000 children of one znode are listed in one answer (~250 KB, under the
# 1 MB default; set explicitly so a bigger BENCH_BIG fails loudly on the client side only).
java -Xmx512m -cp /etc/zookeeper/conf:/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar \
  -Dzookeeper.root.logger=WARN,CONSOLE org.apache.zookeeper.server.quorum.QuorumPeerMain \
  "$TMP/zk/zoo.cfg" >"$TMP/zookeeper.log" 2>&1 &
ZK_PID=$!; PIDS+=("$ZK_PID")
for _ in $(seq 300); do
  kill -0 "$ZK_PID" 2>/dev/null || die "ZooKeeper exited during start-up"
  [[ $(echo ruok | nc -w 1 127.0.0.1 "$P_ZK" 2>/dev/null) == imok ]] && break
  sleep 0.2
done
[[ $(echo ruok | nc -w 1 127.0.0.1 "$P_ZK" 2>/dev/null) == imok ]] || die "ZooKeeper not ready within 60s"

"$KPY" "$ROOT/tests/integration/backends/consul_server.py" --port "$P_CONSUL" >"$TMP/consul.log" 2>&1 &
CONSUL_PID=$!; PIDS+=("$CONSUL_PID")
wait_port "$P_CONSUL" "$CONSUL_PID" "Consul test server"

if [[ " $STORES " == *" etcd "* ]]; then
  etcd --name bench --data-dir "$TMP/etcd" \
    --listen-client-urls "http://127.0.0.1:$P_ETCD" --advertise-client-urls "http://127.0.0.1:$P_ETCD" \
    --listen-peer-urls "http://127.0.0.1:$P_ETCD_PEER" --initial-advertise-peer-urls "http://127.0.0.1:$P_ETCD_PEER" \
    --initial-cluster "bench=http://127.0.0.1:$P_ETCD_PEER" >"$TMP/etcd.log" 2>&1 &
  ETCD_PID=$!; PIDS+=("$ETCD_PID")
  for _ in $(seq 150); do
    curl -fsS "http://127.0.0.1:$P_ETCD/health" 2>/dev/null | grep -q '"health":"true"' && break
    kill -0 "$ETCD_PID" 2>/dev/null || die "etcd exited during start-up"
    sleep 0.2
  done
  curl -fsS "http://127.0.0.1:$P_ETCD/health" | grep -q '"health":"true"' || die "etcd not healthy within 30s"
fi

# Three backends that answer their name; every change switches the set to the next one. The
# large world's backend listens on the wildcard address so that 10,000 distinct 127.1.x.y
# endpoints reach it (it drops any peer outside 127/8).
read -r P_B0 P_B1 P_B2 P_STATIC <<<"$(free_ports 4)"
"$KPY" "$DRIVER" backends "b0=127.0.0.1:$P_B0" "b1=127.0.0.1:$P_B1" "b2=127.0.0.1:$P_B2" \
  "static=127.0.0.1:$P_STATIC" "big=0.0.0.0:$P_BIG_BACKEND" >"$TMP/backends.log" 2>&1 &
BACKENDS_PID=$!; PIDS+=("$BACKENDS_PID")
wait_port "$P_B0" "$BACKENDS_PID" backends
wait_port "$P_BIG_BACKEND" "$BACKENDS_PID" backends
BACKEND_ARGS=(--backend "b0=$P_B0" --backend "b1=$P_B1" --backend "b2=$P_B2")
STORE_ARGS=(--zk "127.0.0.1:$P_ZK" --consul "127.0.0.1:$P_CONSUL" --etcd "127.0.0.1:$P_ETCD"
  --file "$TMP/endpoints.yaml")

# ---- propagation -------------------------------------------------------------------------------
declare -A LPORT
read -r LPORT[zookeeper] LPORT[consul] LPORT[etcd] LPORT[file] <<<"$(free_ports 4)"
{
  echo "workers: $THREADS"
  echo "drain_delay: 0s"
  echo "drain_timeout: 1s"
  echo "admin: {address: 127.0.0.1:$P_ADMIN}"
  echo "log: {level: warn, format: text}"
  echo "discovery:"
  echo "  zk: {type: zookeeper, servers: [127.0.0.1:$P_ZK], session_timeout: 10s}"
  echo "  consul: {type: consul, address: 127.0.0.1:$P_CONSUL}"
  [[ " $STORES " == *" etcd "* ]] && echo "  etcd: {type: etcd, endpoints: [127.0.0.1:$P_ETCD]}"
  echo "clusters:"
  for s in $STORES; do
    case $s in
      zookeeper) echo "  - {name: zookeeper, zookeeper: {source: zk, path: /services/bench-zk}, connect_timeout: 1s}" ;;
      consul) echo "  - {name: consul, consul: {source: consul, service: bench}, connect_timeout: 1s}" ;;
      etcd) echo "  - {name: etcd, etcd: {source: etcd, prefix: /services/bench-etcd}, connect_timeout: 1s}" ;;
      file) echo "  - {name: file, file: {path: $TMP/endpoints.yaml}, connect_timeout: 1s}" ;;
      *) die "unknown store '$s' in BENCH_STORES" ;;
    esac
  done
  echo "listeners:"
  for s in $STORES; do
    echo "  - {name: $s, address: 127.0.0.1:${LPORT[$s]}, protocol: tcp, cluster: $s}"
  done
} >"$TMP/pilotfish-propagation.yaml"

"$KPY" "$DRIVER" setup "${STORE_ARGS[@]}" "${BACKEND_ARGS[@]}" --stores $STORES >/dev/null ||
  die "could not register the first backend in every store"
"$PILOTFISH" validate -c "$TMP/pilotfish-propagation.yaml" >"$TMP/validate.log" 2>&1 ||
  die "pilotfish rejected its config: $(cat "$TMP/validate.log")"
"$PILOTFISH" run -c "$TMP/pilotfish-propagation.yaml" >"$TMP/pilotfish-propagation.log" 2>&1 &
PF_PID=$!; PIDS+=("$PF_PID")
wait_ready "$P_ADMIN" "pilotfish (propagation)"

: >"$TMP/propagation.jsonl"
T0=$(ticks "$PF_PID")
for s in $STORES; do
  log "propagation: $s, $CHANGES changes"
  run_child "$TMP/prop-$s.json" "$TMP/prop-$s.log" "$KPY" "$DRIVER" propagation --store "$s" \
    --listener "${LPORT[$s]}" --changes "$CHANGES" "${STORE_ARGS[@]}" "${BACKEND_ARGS[@]}" ||
    die "propagation ($s) failed: $(tail -n 20 "$TMP/prop-$s.log")"
  cat "$TMP/prop-$s.json" >>"$TMP/propagation.jsonl"
  kill -0 "$PF_PID" 2>/dev/null || die "pilotfish died during the $s propagation run"
done
PROP_TICKS=$(($(ticks "$PF_PID") - T0))

# ---- large world -------------------------------------------------------------------------------
: >"$TMP/large.jsonl"
if [[ $LARGE == 1 ]]; then
  LARGE_ARGS=(--zk "127.0.0.1:$P_ZK" --clusters "$LCLUSTERS" --per-cluster "$LPER" --big "$BIG"
    --big-port "$P_BIG_BACKEND")
  log "large world: populating ZooKeeper ($LCLUSTERS x $LPER + $BIG znodes)"
  "$KPY" "$DRIVER" large-populate "${LARGE_ARGS[@]}" >"$TMP/populate.json" ||
    die "populating ZooKeeper failed"
  read -r P_LSTATIC P_LBIG P_BSTATIC <<<"$(free_ports 3)"
  "$KPY" "$DRIVER" large-config "${LARGE_ARGS[@]}" --workers "$THREADS" --admin "$P_LADMIN" \
    --static-port "$P_STATIC" --static-listener "$P_LSTATIC" --big-listener "$P_LBIG" \
    >"$TMP/pilotfish-large.yaml"
  "$KPY" "$DRIVER" large-config "${LARGE_ARGS[@]}" --clusters 0 --workers "$THREADS" \
    --admin "$P_BADMIN" --static-port "$P_STATIC" --static-listener "$P_BSTATIC" \
    >"$TMP/pilotfish-baseline.yaml"

  # Baseline: the same binary with the small static cluster only.
  "$PILOTFISH" run -c "$TMP/pilotfish-baseline.yaml" >"$TMP/pilotfish-baseline.log" 2>&1 &
  BASE_PID=$!; PIDS+=("$BASE_PID")
  wait_ready "$P_BADMIN" "pilotfish (baseline)"

  START=$(date +%s.%N)
  "$PILOTFISH" run -c "$TMP/pilotfish-large.yaml" >"$TMP/pilotfish-large.log" 2>&1 &
  LPF_PID=$!; PIDS+=("$LPF_PID")
  # Loaded when every discovered cluster logged its first set (one line each).
  want=$((LCLUSTERS + 1))
  for _ in $(seq 1200); do
    kill -0 "$LPF_PID" 2>/dev/null || die "pilotfish (large) exited during start-up"
    got=$(grep -c 'endpoints from zookeeper (was' "$TMP/pilotfish-large.log" || true)
    ((got >= want)) && break
    sleep 0.1
  done
  ((got >= want)) || die "pilotfish (large) loaded $got of $want clusters in 120s"
  LOAD_S=$(awk -v s="$START" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }')
  # Clusters whose first answer came after initial_fetch_timeout (5 s): their listeners (if any)
  # started without endpoints.
  INITIAL_TIMEOUTS=$(grep -c 'within initial_fetch_timeout' "$TMP/pilotfish-large.log" || true)
  wait_ready "$P_LADMIN" "pilotfish (large)"
  sleep 2  # let start-up allocations settle before reading RSS
  RSS_BASE=$(awk '/^VmRSS:/ {print $2}' "/proc/$BASE_PID/status")
  RSS_LOADED=$(awk '/^VmRSS:/ {print $2}' "/proc/$LPF_PID/status")
  LOAD_TICKS=$(ticks "$LPF_PID")
  # Idle CPU of the loaded process over 5 s: what it costs when nothing changes.
  I0=$(ticks "$LPF_PID"); sleep 5; IDLE_TICKS=$(($(ticks "$LPF_PID") - I0))
  log "large world loaded in ${LOAD_S}s; RSS ${RSS_LOADED} KiB (baseline ${RSS_BASE} KiB)"

  for what in small big; do
    n=$LUPDATES; [[ $what == big ]] && n=$BUPDATES
    log "large world: $n updates ($what)"
    run_child "$TMP/upd-$what.json" "$TMP/upd-$what.log" "$KPY" "$DRIVER" large-updates \
      "${LARGE_ARGS[@]}" --what "$what" --pid "$LPF_PID" --log "$TMP/pilotfish-large.log" \
      --updates "$n" || die "large-updates ($what) failed: $(tail -n 20 "$TMP/upd-$what.log")"
    cat "$TMP/upd-$what.json" >>"$TMP/large.jsonl"
  done

  log "per-connection latency: static (baseline), static (large), big (10,000 endpoints)"
  run_child "$TMP/latency.json" "$TMP/latency.log" "$KPY" "$DRIVER" latency \
    --target "static-baseline=$P_BSTATIC" --target "static-large=$P_LSTATIC" \
    --target "big-10000=$P_LBIG" --rounds "$LATROUNDS" --requests "$LATREQ" ||
    die "latency run failed: $(tail -n 20 "$TMP/latency.log")"
  RSS_AFTER=$(awk '/^VmRSS:/ {print $2}' "/proc/$LPF_PID/status")
  # Last, as it may leave the process busy: 30 s of connections (1 s timeout; 200 to each
  # listener in turn) while the 10,000-endpoint cluster changes every BENCH_CHURN_INTERVAL s.
  CHURN_INTERVAL=${BENCH_CHURN_INTERVAL:-0.25}
  log "per-connection latency while the 10,000-endpoint cluster changes every ${CHURN_INTERVAL}s"
  run_child "$TMP/latency-churn.json" "$TMP/latency-churn.log" "$KPY" "$DRIVER" latency \
    --target "static-large=$P_LSTATIC" --target "big-10000=$P_LBIG" --rounds 1000000 \
    --requests 200 --churn-zk "127.0.0.1:$P_ZK" --churn-interval "$CHURN_INTERVAL" \
    --big "$BIG" --big-port "$P_BIG_BACKEND" --timeout 1 --max-seconds 30 ||
    die "latency run with churn failed: $(tail -n 20 "$TMP/latency-churn.log")"
  RSS_CHURN=$(awk '/^VmRSS:/ {print $2}' "/proc/$LPF_PID/status")
  kill -0 "$LPF_PID" 2>/dev/null || die "pilotfish (large) died"
fi

# ---- report ------------------------------------------------------------------------------------
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$BENCH/results"
OUT="$BENCH/results/discovery-$STAMP.json"
export STAMP CHANGES THREADS LARGE LCLUSTERS LPER BIG LUPDATES BUPDATES LATREQ LATROUNDS CLK_TCK \
  LOAD_BEFORE LOAD_AFTER ETCD_NOTE PROP_TICKS STORES TMP
export GIT_REV=$(git_rev)
export V_PILOTFISH=$("$PILOTFISH" --version | head -n 1)
export V_ZK=$(dpkg-query -W -f '${Version}' zookeeper 2>/dev/null || echo unknown)
export V_ETCD=$(etcd --version 2>/dev/null | awk 'NR == 1 {print $3}')
export V_KERNEL=$(uname -r)
export CPU_MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
export LOAD_S=${LOAD_S:-} RSS_BASE=${RSS_BASE:-} RSS_LOADED=${RSS_LOADED:-} RSS_AFTER=${RSS_AFTER:-}
export LOAD_TICKS=${LOAD_TICKS:-} IDLE_TICKS=${IDLE_TICKS:-} RSS_CHURN=${RSS_CHURN:-}
export CHURN_INTERVAL=${CHURN_INTERVAL:-} INITIAL_TIMEOUTS=${INITIAL_TIMEOUTS:-}
echo
"$KPY" "$BENCH/lib/discovery_report.py" "$OUT"
echo
echo "results: ${OUT#"$ROOT"/}"
