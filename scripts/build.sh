#!/usr/bin/env bash
# Configures and builds pilotfish into a build directory.
# Usage: scripts/build.sh [DIR] [extra cmake args...]   (default DIR: build, RelWithDebInfo, epoll)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$dir" -j "$(nproc)"
