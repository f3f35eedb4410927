#!/usr/bin/env bash
# Installs every Debian 12 package pilotfish needs to build, test and benchmark.
# Idempotent: packages already present are skipped, apt is only touched when needed.
# Usage (as root): scripts/install-deps.sh [--runtime-only]
set -euo pipefail

BUILD_PKGS=(
  build-essential cmake ninja-build ccache pkg-config git
  libboost1.81-dev liburing-dev libnghttp2-dev libssl-dev
  libprotobuf-dev protobuf-compiler libgrpc++-dev protobuf-compiler-grpc
  libspdlog-dev libfmt-dev libyaml-cpp-dev libgtest-dev libgmock-dev
  libzookeeper-mt-dev libc-ares-dev
)
# Real peers and clients used by the tests, the quickstart and bench/.
# nginx: in Debian 12 this package carries the binary (ssl, proxy, upstream keepalive built in);
# nginx-light is only a metapackage adding the echo module.
TEST_PKGS=(
  redis-server redis-tools haproxy curl python3 procps iproute2 netcat-openbsd
  nginx wrk openssl
  zookeeper default-jre-headless python3-kazoo etcd-server etcd-client
)
# What the epoll binary links (ldd + dpkg -S); libc/libstdc++ are in every Debian image.
RUNTIME_PKGS=(
  libyaml-cpp0.7 libspdlog1.10 libfmt9 libzookeeper-mt2 libc-ares2 libgrpc++1.51 libprotobuf32
)

want=("${BUILD_PKGS[@]}" "${TEST_PKGS[@]}")
if [[ "${1:-}" == "--runtime-only" ]]; then
  want=("${RUNTIME_PKGS[@]}")
fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#want[@]} packages present"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root (or: sudo $0) to install them with apt-get" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || { echo "install-deps: apt-get update failed" >&2; exit 1; }
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/pilotfish-apt.log 2>&1; then
  tail -n 20 /tmp/pilotfish-apt.log >&2
  echo "install-deps: apt-get install failed for: ${missing[*]} (full log: /tmp/pilotfish-apt.log)" >&2
  exit 1
fi

# Verify: a package apt claims to have installed but that is still absent is a hard error.
still=()
for p in "${missing[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || still+=("$p")
done
if ((${#still[@]})); then
  echo "install-deps: packages still missing after apt-get: ${still[*]}" >&2
  exit 1
fi
echo "install-deps: done"
