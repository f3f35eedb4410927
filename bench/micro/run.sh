#!/usr/bin/env bash
# HTTP/1 parser micro-benchmark and strictness comparison (docs/decisions/0004-http1-parser.md).
#
#   bench/micro/run.sh               # build both, run the strictness table and the benchmark
#   BENCH_ARGS="--benchmark_repetitions=5" bench/micro/run.sh
#
# Compiles with g++ -O2 straight from the sources into $OUT (default build-micro/, gitignored).
# Needs libbenchmark-dev, libboost1.81-dev, libhttp-parser-dev (installed if missing, as root).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${OUT:-$ROOT/build-micro}"
CXX="${CXX:-g++}"
mkdir -p "$OUT"

need=()
[[ -f /usr/include/benchmark/benchmark.h ]] || need+=(libbenchmark-dev)
[[ -f /usr/include/http_parser.h ]] || need+=(libhttp-parser-dev)
[[ -f /usr/include/boost/beast/http/parser.hpp ]] || need+=(libboost1.81-dev)
if ((${#need[@]})); then
  apt-get update -qq && apt-get install -y -qq "${need[@]}"
fi

CXXFLAGS=(-std=c++20 -O2 -DNDEBUG -g -I"$ROOT/include" -I"$ROOT/src" -I"$ROOT/bench/micro")
SRCS=("$ROOT"/src/http/h1_*.cc)

"$CXX" "${CXXFLAGS[@]}" "${SRCS[@]}" "$ROOT/bench/micro/h1_strictness.cc" \
  -lhttp_parser -o "$OUT/h1_strictness"
"$CXX" "${CXXFLAGS[@]}" "${SRCS[@]}" "$ROOT/bench/micro/h1_parser_bench.cc" \
  -lbenchmark -lpthread -lhttp_parser -o "$OUT/h1_parser_bench"

echo "== strictness (must-survive rows 1-10, 14; issue 3) =="
"$OUT/h1_strictness"
echo
echo "== speed =="
# shellcheck disable=SC2086
"$OUT/h1_parser_bench" --benchmark_min_time=0.5 ${BENCH_ARGS:-}
