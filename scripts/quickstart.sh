#!/usr/bin/env bash
# One command from a fresh Debian 12 machine (as root) to pilotfish proxying a real backend:
# installs dependencies, builds, starts a demo Redis on 127.0.0.1:6379 and runs pilotfish with
# config/quickstart.yaml (listener 127.0.0.1:7379 -> the demo Redis; admin on 127.0.0.1:9901).
# Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh build

redis_pid=
cleanup() { [[ -n "$redis_pid" ]] && kill "$redis_pid" 2>/dev/null || true; }
trap cleanup EXIT INT TERM

if redis-cli -p 6379 ping >/dev/null 2>&1; then
  echo "quickstart: a Redis already answers on 127.0.0.1:6379; using it as the demo backend"
else
  redis-server --port 6379 --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
    --loglevel warning &
  redis_pid=$!
  for _ in $(seq 100); do redis-cli -p 6379 ping >/dev/null 2>&1 && break; sleep 0.05; done
  redis-cli -p 6379 ping >/dev/null || { echo "quickstart: demo Redis did not start" >&2; exit 1; }
fi

cat <<'MSG'

pilotfish is starting in front of the demo Redis. In another terminal, try:

  redis-cli -p 7379 set greeting hello && redis-cli -p 7379 get greeting
  curl -s 127.0.0.1:9901/metrics | grep pilotfish_listener
  curl -s 127.0.0.1:9901/clusters

Ctrl-C here drains and stops pilotfish.

MSG
build/pilotfish run -c config/quickstart.yaml
