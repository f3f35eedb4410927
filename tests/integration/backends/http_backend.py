#!/usr/bin/env python3
"""A small HTTP/1.1 test backend for pilotfish's integration tests (Python 3 stdlib only).

Usage:
    python3 http_backend.py --port N [--tls-cert C --tls-key K] [--plain-port M]
                            [--idle-timeout SECONDS] [--verbose]

Prints "READY <port>" on stdout once every listener accepts connections. --port 0 picks a free
port (the one printed). With --tls-cert/--tls-key the --port listener speaks TLS (ALPN
http/1.1); --plain-port adds a plaintext listener sharing the same state (the harness reads
/__stats there). --idle-timeout closes a keepalive connection idle that long between requests.

It parses requests itself from raw socket bytes (no http.server): request line, headers in
received order with their original case, Content-Length and chunked bodies (with trailers),
pipelining, HTTP/1.0 and 1.1 keepalive rules. A request with `Expect: 100-continue` always gets
`HTTP/1.1 100 Continue` before its body is read (except in mode expect-reject).

Default answer: 200, content-type: application/json, x-backend-conn-id: <conn_id>, body
    {"method", "target", "version", "headers": [[name, value], ...] (received order),
     "body_len", "body_sha256", "chunked", "trailers", "conn_id", "conn_requests",
     "port", "tls", "mode"}
conn_id numbers TCP connections from 1 in accept order; conn_requests counts the requests seen
so far on that connection (this one included).

Misbehaviour, per request. The mode is the request path, or the header `x-backend-mode` (which
wins; its value is the same string with or without the leading '/', e.g. `status/503`), so a
proxy test can select it whatever path it routes:
    /status/<code>      answer <code> (200-999) with the echo body; 204 and 304 with no body
    /slow/<ms>          wait <ms> before answering
    /slow-body/<ms>     send the head (with content-length) at once, the body <ms> later
    /reset-before-head  read the request, then close with RST (SO_LINGER 0), no answer
    /reset-mid-body     head with content-length: 1000, 10 body bytes, then RST
    /close-after        answer with `connection: close`, then close
    /no-keepalive       answer (no connection header), then close
    /bad-framing        a response with both content-length and transfer-encoding: chunked,
                        then close
    /bad-status         a garbage status line, then close
    /partial-head       the start of a response head ("HTTP/1.1 200 OK\\r\\nX:"), then close
                        (FIN)
    /chunked/<n>        a chunked response of n chunks, chunk i (from 0) = "chunk <i>\\n"
    /chunked-reset      the head of a chunked response and two chunks ("chunk 0\\n",
                        "chunk 1\\n"), no last chunk, then RST once they are acknowledged
    /bytes/<n>          n body bytes (a repeating [a-z0-9] pattern), application/octet-stream
    /upgrade            with `Upgrade: websocket` (and Sec-WebSocket-Key): 101 with
                        Sec-WebSocket-Accept per RFC 6455, then echoes raw bytes until EOF;
                        without it: 426 with the echo body
    /upgrade-unasked[/<p>]  101 Switching Protocols (upgrade: <p>, default websocket; `none`:
                        no Upgrade field) whatever the request asked for, then echoes raw
                        bytes until EOF
    /expect             the echo answer (100 Continue is sent for any request that asks)
    /expect-reject      on `Expect: 100-continue`: 417 without reading the body, then close
Anything else: the echo answer. HEAD gets the head of the same answer without a body.

Admin (not counted in the stats below, nor is a connection that carried only admin requests):
    /__stats  {"connections": TCP connections accepted, "requests": requests received,
               "open": connections open now, "accepted": every connection incl. admin ones}
    /__conns  [{"conn_id", "peer_port", "port", "requests", "open", "closed_by"}, ...]
              closed_by: null (open), "client", "server", "reset", "idle-timeout", "error"
"""

import argparse
import base64
import fcntl
import hashlib
import http
import json
import os
import signal
import socket
import ssl
import struct
import sys
import termios
import threading
import time

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_HEAD = 64 * 1024
PATTERN = b"abcdefghijklmnopqrstuvwxyz0123456789"

VERBOSE = False


def log(*args):
    if VERBOSE:
        print(*args, file=sys.stderr, flush=True)


class BadRequest(Exception):
    pass


class PeerClosed(Exception):
    pass


class IdleTimeout(Exception):
    pass


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.next_id = 1
        self.conns = {}  # conn_id -> record (dict)

    def new_conn(self, peer_port, port):
        with self.lock:
            cid = self.next_id
            self.next_id += 1
            self.conns[cid] = {
                "conn_id": cid,
                "peer_port": peer_port,
                "port": port,
                "requests": 0,
                "admin_requests": 0,
                "open": True,
                "closed_by": None,
            }
            return cid

    def count_request(self, cid, admin):
        with self.lock:
            rec = self.conns[cid]
            if admin:
                rec["admin_requests"] += 1
            else:
                rec["requests"] += 1
            return rec["requests"]

    def closed(self, cid, how):
        with self.lock:
            rec = self.conns[cid]
            if rec["open"]:
                rec["open"] = False
                rec["closed_by"] = how

    @staticmethod
    def _counted(rec):
        return not (rec["admin_requests"] > 0 and rec["requests"] == 0)

    def stats(self):
        with self.lock:
            recs = [r for r in self.conns.values() if self._counted(r)]
            return {
                "connections": len(recs),
                "requests": sum(r["requests"] for r in recs),
                "open": sum(1 for r in recs if r["open"]),
                "accepted": len(self.conns),
            }

    def conn_list(self):
        with self.lock:
            return [
                {k: r[k] for k in ("conn_id", "peer_port", "port", "requests", "open", "closed_by")}
                for r in self.conns.values()
                if self._counted(r)
            ]


STATE = State()


def reason(code):
    try:
        return http.HTTPStatus(code).phrase
    except ValueError:
        return "Unknown"


def set_linger0(sock):
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass


def wait_sent(sock, timeout=2.0):
    """Waits until the kernel send queue is empty (all bytes acked), so that an RST that follows
    cannot discard them."""
    deadline = time.monotonic() + timeout
    buf = bytearray(4)
    while time.monotonic() < deadline:
        try:
            fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, buf)
        except OSError:
            return
        if struct.unpack("i", bytes(buf))[0] == 0:
            return
        time.sleep(0.002)


class Conn:
    def __init__(self, sock, cid, port, tls, idle_timeout):
        self.sock = sock
        self.cid = cid
        self.port = port
        self.tls = tls
        self.idle_timeout = idle_timeout
        self.buf = bytearray()

    # -- reading ---------------------------------------------------------------------------

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise PeerClosed()
        self.buf += data

    def read_line(self, limit=MAX_HEAD):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[: i + 1]
                return line[:-1] if line.endswith(b"\r") else line
            if len(self.buf) > limit:
                raise BadRequest("line too long")
            self.fill()

    def read_exact(self, n):
        while len(self.buf) < n:
            self.fill()
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def read_head(self):
        """Returns (method, target, version, headers) or raises PeerClosed / IdleTimeout."""
        # Wait for the first byte of the next request with the idle timeout.
        if not self.buf:
            self.sock.settimeout(self.idle_timeout)
            try:
                self.fill()
            except socket.timeout:
                raise IdleTimeout()
            finally:
                self.sock.settimeout(None)
        line = self.read_line()
        while line == b"":  # RFC 9112 2.2: ignore empty lines before a request line
            line = self.read_line()
        parts = line.split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            raise BadRequest("bad request line: %r" % line)
        method, target, version = (p.decode("latin-1") for p in parts)
        headers = []
        size = len(line)
        while True:
            h = self.read_line()
            size += len(h)
            if size > MAX_HEAD:
                raise BadRequest("head too large")
            if h == b"":
                break
            if h[:1] in (b" ", b"\t"):
                raise BadRequest("obsolete line folding")
            colon = h.find(b":")
            if colon <= 0 or h[colon - 1 : colon] in (b" ", b"\t"):
                raise BadRequest("bad header line: %r" % h)
            headers.append(
                [h[:colon].decode("latin-1"), h[colon + 1 :].strip(b" \t").decode("latin-1")]
            )
        return method, target, version, headers

    def read_body(self, framing, length):
        """Reads the body; returns (length, sha256 hex, trailers)."""
        sha = hashlib.sha256()
        total = 0
        trailers = []
        if framing == "length":
            left = length
            while left > 0:
                if not self.buf:
                    self.fill()
                take = min(left, len(self.buf))
                sha.update(self.buf[:take])
                del self.buf[:take]
                left -= take
                total += take
        elif framing == "chunked":
            while True:
                size_line = self.read_line(limit=4096)
                size_txt = size_line.split(b";", 1)[0].strip()
                try:
                    size = int(size_txt, 16)
                except ValueError:
                    raise BadRequest("bad chunk size %r" % size_line)
                if size == 0:
                    break
                data = self.read_exact(size)
                sha.update(data)
                total += size
                if self.read_line(limit=2) != b"":
                    raise BadRequest("chunk not followed by CRLF")
            while True:
                t = self.read_line()
                if t == b"":
                    break
                colon = t.find(b":")
                if colon <= 0:
                    raise BadRequest("bad trailer %r" % t)
                trailers.append(
                    [t[:colon].decode("latin-1"), t[colon + 1 :].strip(b" \t").decode("latin-1")]
                )
        return total, sha.hexdigest(), trailers

    # -- writing ---------------------------------------------------------------------------

    def send(self, data):
        self.sock.sendall(data)

    def respond(self, status, headers, body, *, head_only=False, close_header=False):
        lines = ["HTTP/1.1 %d %s" % (status, reason(status))]
        lines += ["%s: %s" % (k, v) for k, v in headers]
        no_body = status in (204, 304) or 100 <= status < 200
        if not no_body:
            lines.append("content-length: %d" % len(body))
        if close_header:
            lines.append("connection: close")
        out = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if not no_body and not head_only:
            out += body
        self.send(out)

    def close_graceful(self):
        """FIN after everything sent; drain what the client still sends (so that unread
        request bytes do not turn the close into an RST), then close."""
        try:
            if not self.tls:
                self.sock.shutdown(socket.SHUT_WR)
                self.sock.settimeout(2.0)
                deadline = time.monotonic() + 2.0
                while time.monotonic() < deadline:
                    if not self.sock.recv(65536):
                        break
        except OSError:
            pass
        finally:
            self.sock.close()

    def reset(self):
        set_linger0(self.sock)
        self.sock.close()


def header_value(headers, name):
    name = name.lower()
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


def header_tokens(headers, name):
    name = name.lower()
    toks = set()
    for k, v in headers:
        if k.lower() == name:
            toks |= {t.strip().lower() for t in v.split(",") if t.strip()}
    return toks


def body_framing(headers):
    te = [v for k, v in headers if k.lower() == "transfer-encoding"]
    if te:
        codings = [t.strip().lower() for v in te for t in v.split(",") if t.strip()]
        if not codings or codings[-1] != "chunked":
            raise BadRequest("transfer-encoding without final chunked")
        return "chunked", 0
    cls = {v.strip() for k, v in headers if k.lower() == "content-length"}
    if not cls:
        return "none", 0
    if len(cls) != 1:
        raise BadRequest("conflicting content-length")
    cl = cls.pop()
    if not cl.isdigit():
        raise BadRequest("bad content-length %r" % cl)
    return "length", int(cl)


def select_mode(target, headers):
    m = header_value(headers, "x-backend-mode")
    if m is None:
        m = target.split("?", 1)[0]
    m = m.strip().lstrip("/")
    name, _, arg = m.partition("/")
    return name, arg, m


def int_arg(arg, lo, hi):
    try:
        v = int(arg)
    except ValueError:
        raise BadRequest("bad mode argument %r" % arg)
    if v < lo or v > hi:
        raise BadRequest("mode argument %d out of range" % v)
    return v


def pattern_bytes(n):
    return (PATTERN * (n // len(PATTERN) + 1))[:n]


def serve_conn(sock, port, tls_ctx, idle_timeout):
    peer_port = sock.getpeername()[1]
    cid = STATE.new_conn(peer_port, port)
    log("conn %d from port %d" % (cid, peer_port))
    how = "error"
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls_ctx is not None:
            sock.settimeout(10.0)
            sock = tls_ctx.wrap_socket(sock, server_side=True)
            sock.settimeout(None)
        conn = Conn(sock, cid, port, tls_ctx is not None, idle_timeout)
        how = serve_requests(conn)
    except PeerClosed:
        how = "client"
    except (ConnectionResetError, BrokenPipeError):
        how = "reset"
    except Exception as e:  # noqa: BLE001 - a test peer logs and drops the connection
        log("conn %d: %r" % (cid, e))
        how = "error"
    finally:
        STATE.closed(cid, how)
        try:
            sock.close()
        except OSError:
            pass
        log("conn %d closed (%s)" % (cid, how))


def serve_requests(conn):
    """Serves requests until the connection ends; returns how it ended."""
    while True:
        try:
            method, target, version, headers = conn.read_head()
        except IdleTimeout:
            conn.close_graceful()
            return "idle-timeout"
        except BadRequest as e:
            conn.respond(400, [("content-type", "text/plain")], (str(e) + "\n").encode(),
                         close_header=True)
            conn.close_graceful()
            return "server"
        name, arg, mode = select_mode(target, headers)
        admin = name in ("__stats", "__conns")
        nreq = STATE.count_request(conn.cid, admin)
        log("conn %d req %d: %s %s mode=%s" % (conn.cid, nreq, method, target, mode))
        conn_tokens = header_tokens(headers, "connection")
        if version == "HTTP/1.1":
            keep = "close" not in conn_tokens
        else:
            keep = "keep-alive" in conn_tokens
        ka_headers = [("connection", "keep-alive")] if keep and version == "HTTP/1.0" else []
        try:
            framing, length = body_framing(headers)
            expect = (header_value(headers, "expect") or "").strip().lower() == "100-continue"
            if name == "expect-reject" and expect:
                conn.respond(417, [("content-type", "text/plain")], b"expectation failed\n",
                             close_header=True)
                conn.close_graceful()
                return "server"
            if expect:
                conn.send(b"HTTP/1.1 100 Continue\r\n\r\n")
            body_len, body_sha, trailers = conn.read_body(framing, length)
        except BadRequest as e:
            conn.respond(400, [("content-type", "text/plain")], (str(e) + "\n").encode(),
                         close_header=True)
            conn.close_graceful()
            return "server"
        head_only = method == "HEAD"

        if admin:
            doc = STATE.stats() if name == "__stats" else STATE.conn_list()
            conn.respond(200, [("content-type", "application/json")] + ka_headers,
                         json.dumps(doc).encode(), head_only=head_only, close_header=not keep)
            if not keep:
                conn.close_graceful()
                return "server"
            continue

        echo = json.dumps({
            "method": method,
            "target": target,
            "version": version,
            "headers": headers,
            "body_len": body_len,
            "body_sha256": body_sha,
            "chunked": framing == "chunked",
            "trailers": trailers,
            "conn_id": conn.cid,
            "conn_requests": nreq,
            "port": conn.port,
            "tls": conn.tls,
            "mode": mode,
        }).encode()
        json_headers = [("content-type", "application/json"), ("x-backend-conn-id", str(conn.cid))]

        try:
            result = misbehave(conn, name, arg, echo, json_headers, ka_headers, headers, keep,
                               head_only)
        except BadRequest as e:
            conn.respond(400, [("content-type", "text/plain")], (str(e) + "\n").encode(),
                         close_header=True)
            conn.close_graceful()
            return "server"
        if result is not None:
            return result
        if not keep:
            conn.close_graceful()
            return "server"


def echo_tunnel(conn):
    """After a 101: echoes raw bytes (those already buffered first) until the client's EOF."""
    if conn.buf:
        conn.send(bytes(conn.buf))
        conn.buf.clear()
    while True:
        data = conn.sock.recv(65536)
        if not data:
            break
        conn.send(data)
    conn.close_graceful()
    return "client"


def misbehave(conn, name, arg, echo, json_headers, ka_headers, headers, keep, head_only):
    """Answers one request per its mode. Returns None to go on with the connection (keepalive
    rules permitting), or how the connection ended when the mode ended it."""
    if name == "status":
        code = int_arg(arg, 200, 999)
        conn.respond(code, json_headers + ka_headers, echo, head_only=head_only,
                     close_header=not keep)
    elif name == "slow":
        time.sleep(int_arg(arg, 0, 600000) / 1000.0)
        conn.respond(200, json_headers + ka_headers, echo, head_only=head_only,
                     close_header=not keep)
    elif name == "slow-body":
        ms = int_arg(arg, 0, 600000)
        lines = ["HTTP/1.1 200 OK"] + ["%s: %s" % h for h in json_headers + ka_headers]
        lines.append("content-length: %d" % len(echo))
        if not keep:
            lines.append("connection: close")
        conn.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        if not head_only:
            time.sleep(ms / 1000.0)
            conn.send(echo)
    elif name == "reset-before-head":
        conn.reset()
        return "reset"
    elif name == "reset-mid-body":
        conn.send(b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\n"
                  b"content-length: 1000\r\n\r\n" + pattern_bytes(10))
        wait_sent(conn.sock)
        conn.reset()
        return "reset"
    elif name == "close-after":
        conn.respond(200, json_headers, echo, head_only=head_only, close_header=True)
        conn.close_graceful()
        return "server"
    elif name == "no-keepalive":
        conn.respond(200, json_headers, echo, head_only=head_only)
        conn.close_graceful()
        return "server"
    elif name == "bad-framing":
        conn.send(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n"
                  b"transfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        conn.close_graceful()
        return "server"
    elif name == "bad-status":
        conn.send(b"HTTP/1.1 two-hundred Garbage\r\ncontent-length: 2\r\n\r\nok")
        conn.close_graceful()
        return "server"
    elif name == "partial-head":
        conn.send(b"HTTP/1.1 200 OK\r\nX:")
        wait_sent(conn.sock)
        conn.close_graceful()
        return "server"
    elif name == "chunked-reset":
        conn.send(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n"
                  b"transfer-encoding: chunked\r\n\r\n"
                  b"8\r\nchunk 0\n\r\n8\r\nchunk 1\n\r\n")
        wait_sent(conn.sock)
        conn.reset()
        return "reset"
    elif name == "upgrade-unasked":
        proto = arg or "websocket"
        upgrade = b"" if proto == "none" else b"upgrade: " + proto.encode() + b"\r\n"
        conn.send(b"HTTP/1.1 101 Switching Protocols\r\n" + upgrade +
                  b"connection: Upgrade\r\n\r\n")
        return echo_tunnel(conn)
    elif name == "chunked":
        n = int_arg(arg, 0, 1000000)
        head = ["HTTP/1.1 200 OK", "content-type: text/plain", "transfer-encoding: chunked",
                "x-backend-conn-id: %d" % conn.cid] + ["%s: %s" % h for h in ka_headers]
        if not keep:
            head.append("connection: close")
        conn.send(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        if not head_only:
            for i in range(n):
                data = b"chunk %d\n" % i
                conn.send(b"%x\r\n%s\r\n" % (len(data), data))
            conn.send(b"0\r\n\r\n")
    elif name == "bytes":
        n = int_arg(arg, 0, 1 << 31)
        lines = ["HTTP/1.1 200 OK", "content-type: application/octet-stream",
                 "x-backend-conn-id: %d" % conn.cid, "content-length: %d" % n]
        lines += ["%s: %s" % h for h in ka_headers]
        if not keep:
            lines.append("connection: close")
        conn.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        if not head_only:
            block = pattern_bytes(len(PATTERN) * 1820)  # 65520 bytes, a whole number of patterns
            left = n
            while left > 0:
                take = min(left, len(block))
                conn.send(block[:take])
                left -= take
    elif name == "upgrade":
        key = header_value(headers, "sec-websocket-key")
        wants = "websocket" in header_tokens(headers, "upgrade") and \
            "upgrade" in header_tokens(headers, "connection")
        if not wants or key is None:
            conn.respond(426, json_headers + [("upgrade", "websocket")] + ka_headers, echo,
                         head_only=head_only, close_header=not keep)
            return None
        accept = base64.b64encode(hashlib.sha1((key.strip() + WS_GUID).encode()).digest())
        conn.send(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n"
                  b"connection: Upgrade\r\nsec-websocket-accept: " + accept + b"\r\n\r\n")
        return echo_tunnel(conn)
    else:  # default echo, also "expect"
        conn.respond(200, json_headers + ka_headers, echo, head_only=head_only,
                     close_header=not keep)
    return None


def listen(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(1024)
    return s


def accept_loop(lsock, tls_ctx, idle_timeout):
    port = lsock.getsockname()[1]
    while True:
        try:
            sock, _ = lsock.accept()
        except OSError:
            continue
        threading.Thread(target=serve_conn, args=(sock, port, tls_ctx, idle_timeout),
                         daemon=True).start()


def main():
    global VERBOSE
    ap = argparse.ArgumentParser(description="pilotfish test HTTP/1.1 backend")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--plain-port", type=int)
    ap.add_argument("--idle-timeout", type=float, default=0.0)
    ap.add_argument("--verbose", "-v", action="store_true")
    args = ap.parse_args()
    VERBOSE = args.verbose
    if bool(args.tls_cert) != bool(args.tls_key):
        ap.error("--tls-cert and --tls-key go together")

    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))
    idle = args.idle_timeout if args.idle_timeout > 0 else None

    tls_ctx = None
    if args.tls_cert:
        tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls_ctx.load_cert_chain(args.tls_cert, args.tls_key)
        tls_ctx.set_alpn_protocols(["http/1.1"])

    main_sock = listen(args.port)
    listeners = [(main_sock, tls_ctx)]
    if args.plain_port is not None:
        listeners.append((listen(args.plain_port), None))
    for lsock, ctx in listeners:
        threading.Thread(target=accept_loop, args=(lsock, ctx, idle), daemon=True).start()
    print("READY %d" % main_sock.getsockname()[1], flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
