#!/usr/bin/env bash
# Builds the HTTP/1 codec fuzzer (libFuzzer + ASan + UBSan) straight from the parser sources.
#
#   tests/fuzz/build.sh                 # build only -> $OUT/h1_fuzz
#   tests/fuzz/build.sh run 60          # build, seed a corpus, fuzz for 60 s on all CPUs
#
# OUT defaults to build-fuzz/ at the repository root (gitignored). Needs clang++-14 (base image).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${OUT:-$ROOT/build-fuzz}"
CXX="${CXX:-clang++-14}"
mkdir -p "$OUT"

"$CXX" -std=c++20 -g -O1 -fno-omit-frame-pointer \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I"$ROOT/include" -I"$ROOT/src" \
  "$ROOT"/src/http/h1_*.cc "$ROOT/tests/fuzz/h1_fuzz.cc" \
  -o "$OUT/h1_fuzz"
echo "built $OUT/h1_fuzz"

[[ "${1:-}" == "run" ]] || exit 0
SECONDS_TO_RUN="${2:-60}"

# Seeds: byte 0 = target (0 request, 1 response, 2 chunked) and limits, byte 1 = split seed.
CORPUS="$OUT/h1_corpus"
mkdir -p "$CORPUS"
seed() { printf '%b' "$2" > "$CORPUS/$1"; }
seed req_get      '\x00\x00GET / HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n'
seed req_post_cl  '\x03\x05POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello'
seed req_chunked  '\x06\x07POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n'
seed req_abs      '\x09\x01GET http://h:80/p?q HTTP/1.1\r\nHost: x\r\nConnection: upgrade, x\r\nUpgrade: websocket\r\n\r\n'
seed req_connect  '\x0c\x02CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\nExpect: 100-continue\r\n\r\n'
seed req_clte     '\x00\x03POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n'
seed req_http10   '\x0f\x04GET * HTTP/1.0\r\nConnection: keep-alive\r\n\r\n'
seed resp_cl      '\x01\x00HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello'
seed resp_chunked '\x11\x06HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'
seed resp_101     '\x21\x02HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'
seed resp_close   '\x31\x09HTTP/1.0 200\r\nX: y\r\n\r\n'
seed chunked_body '\x02\x00\x35\r\nhello\r\n0\r\n\r\n'
seed chunked_ext  '\x05\x03\x31;a=b;c="d\\"e"\r\nx\r\n0\r\nT: v\r\n\r\n'
seed chunked_big  '\x02\x08\x34000000000000000\r\n'

echo "fuzzing for ${SECONDS_TO_RUN}s; corpus $CORPUS"
cd "$OUT"
"$OUT/h1_fuzz" "$CORPUS" -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -timeout=10 \
  -jobs="$(nproc)" -workers="$(nproc)" -print_final_stats=1
