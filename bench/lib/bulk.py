#!/usr/bin/env python3
"""Bulk-transfer helper for bench/tcp_vs_haproxy.sh.

  bulk.py sink HOST PORT         accept connections one after another; read each to EOF, then
                                 answer the byte count (8 bytes, big endian) and close
  bulk.py send HOST PORT BYTES   connect, send BYTES, half-close, wait for the sink's count;
                                 prints one JSON line {"bytes":..,"seconds":..}

The clock runs from connect to the sink's answer, so every byte has crossed the proxy and the
half-close has been propagated both ways. Exit 1 when the count does not match.
"""
import json
import socket
import struct
import sys
import time

CHUNK = 1 << 20  # 1 MiB per send/recv call: keeps the helper's own syscall cost negligible


def sink(host, port):
    srv = socket.create_server((host, port), backlog=16)
    print("ready", flush=True)
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    while True:
        conn, _ = srv.accept()
        with conn:
            try:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                total = 0
                while True:
                    n = conn.recv_into(view)
                    if n == 0:
                        break
                    total += n
                conn.sendall(struct.pack("!Q", total))
            except OSError:
                # A connection the peer reset, e.g. the start-up port probe through HAProxy,
                # which aborts its server side: nothing to answer; wait for the next one.
                continue


def send(host, port, nbytes):
    payload = memoryview(b"\xa5" * CHUNK)
    start = time.perf_counter()
    s = socket.create_connection((host, port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    left = nbytes
    while left > 0:
        k = min(left, CHUNK)
        s.sendall(payload[:k])
        left -= k
    s.shutdown(socket.SHUT_WR)
    answer = b""
    while len(answer) < 8:
        part = s.recv(8 - len(answer))
        if not part:
            break
        answer += part
    elapsed = time.perf_counter() - start
    s.close()
    if len(answer) != 8 or struct.unpack("!Q", answer)[0] != nbytes:
        print(f"bulk.py: sink reported {answer!r}, expected {nbytes} bytes", file=sys.stderr)
        sys.exit(1)
    print(json.dumps({"bytes": nbytes, "seconds": elapsed}))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "sink":
        sink(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) == 5 and sys.argv[1] == "send":
        send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(__doc__)
