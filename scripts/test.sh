#!/usr/bin/env bash
# The test command (README, .ci/run): installs dependencies, then builds and tests twice:
#   1. build/      default build (epoll, optimised): every test (unit + integration)
#   2. build-san/  io_uring + AddressSanitizer + UBSan: every unit test and the integration
#                  tests labelled `sanitize`; any sanitizer report fails the run.
# Run as root on Debian 12 (apt-get installs what is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/install-deps.sh
jobs=$(nproc)
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}

echo "== [1/2] default build (epoll, RelWithDebInfo)"
bash scripts/build.sh build
ctest --test-dir build -j "$jobs" --output-on-failure --timeout 180

echo "== [2/2] io_uring + sanitizers build"
bash scripts/build.sh build-san -DCMAKE_BUILD_TYPE=Debug -DPILOTFISH_IO_URING=ON \
  -DPILOTFISH_SANITIZE=ON
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir build-san -j "$jobs" --output-on-failure --timeout 300 -L 'unit|sanitize'

echo "== all tests passed in $(( $(date +%s) - start ))s"
