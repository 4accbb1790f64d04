"""Origin servers for end-to-end tests: a friendly one and raw-socket scripted ones."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit


class OriginHandler(BaseHTTPRequestHandler):
    """A small origin: /hello, /echo, /headers, /chunked, /close, /big, /slow, /status/N."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, ctype: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._chunked_body()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _chunked_body(self) -> bytes:
        body = b""
        while True:
            size = int(self.rfile.readline().split(b";")[0], 16)
            if not size:
                while self.rfile.readline() not in (b"\r\n", b""):
                    pass
                return body
            body += self.rfile.read(size)
            self.rfile.readline()

    def do_GET(self) -> None:
        path = self.path
        self.server.requests.append((self.command, path, dict(self.headers.items())))  # type: ignore[attr-defined]
        if path.startswith("/hello"):
            self._send(200, b"hello from origin\n")
        elif path.startswith("/headers"):
            self._send(200, json.dumps(self.headers.items()).encode(), "application/json")
        elif path.startswith("/echo"):
            self._send(200, self._body())
        elif path.startswith("/count"):
            self._send(200, str(len(self._body())).encode())
        elif path.startswith("/chunked"):
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"one,", b"two,", b"three"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        elif path.startswith("/close"):
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"until close")
            self.close_connection = True
        elif path.startswith("/big"):
            size = int(path.split("=", 1)[1])
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            block = b"x" * 65536
            left = size
            while left:
                n = min(left, len(block))
                self.wfile.write(block[:n])
                left -= n
        elif path.startswith("/slow"):
            time.sleep(float(path.split("=", 1)[1]))
            self._send(200, b"slow\n")
        elif path.startswith("/status/"):
            self._send(int(path.split("/")[2]), b"")
        elif path.startswith("/cache/"):
            self._cache_route(path)
        else:
            self._send(404, b"not found\n")

    def _cache_route(self, path: str) -> None:
        """``/cache/NAME?cc=...&etag=...&lm=1&cookie=1&vary=H&age=N&size=N&delay=S&abort=1``.

        The body says how many requests this path (query included) has had: ``n=3``
        (``size`` pads it with dots). ``etag`` answers a matching If-None-Match with
        304; ``abort`` sends half the body and closes. Unsafe methods get ``posted``.
        """
        if self.command not in ("GET", "HEAD"):
            self._body()
            self._send(200, b"posted")
            return
        query = dict(parse_qsl(urlsplit(path).query))
        count = sum(1 for _, p, _ in self.server.requests if p == path)  # type: ignore[attr-defined]
        time.sleep(float(query.get("delay", 0)))
        etag = query.get("etag")
        if etag and self.headers.get("If-None-Match") == f'"{etag}"':
            self.send_response(304)
            self.send_header("ETag", f'"{etag}"')
            if "cc" in query:
                self.send_header("Cache-Control", query["cc"])
            self.end_headers()
            return
        body = f"n={count}".encode()
        if "vary" in query:
            body += b" " + self.headers.get(query["vary"], "-").encode()
        body = body.ljust(int(query.get("size", 0)), b".")
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        for key, name in (("cc", "Cache-Control"), ("vary", "Vary"), ("age", "Age")):
            if key in query:
                self.send_header(name, query[key])
        if etag:
            self.send_header("ETag", f'"{etag}"')
        if "lm" in query:
            self.send_header("Last-Modified", "Mon, 13 Nov 2023 00:00:00 GMT")
        if "cookie" in query:
            self.send_header("Set-Cookie", "session=secret")
        self.end_headers()
        if self.command == "HEAD":
            return
        if "abort" in query:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)

    do_HEAD = do_GET
    do_POST = do_GET
    do_PUT = do_GET
    do_DELETE = do_GET
    do_OPTIONS = do_GET


class Origin:
    """A threaded HTTP origin on 127.0.0.1; ``tls`` wraps it in TLS."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), OriginHandler)
        self.server.daemon_threads = True
        self.server.requests = []  # type: ignore[attr-defined]
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def requests(self) -> list[tuple[str, str, dict[str, str]]]:
        return self.server.requests  # type: ignore[attr-defined, no-any-return]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class ScriptedOrigin:
    """A raw-socket origin: each accepted connection is handed to ``script``."""

    def __init__(self, script: Callable[[socket.socket], None]) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.script = script
        self.accepted = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        try:
            self.script(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        # shutdown wakes the accept() blocked in the serving thread; close alone would
        # leave the port listening until that accept returned
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join(5)


def read_head(conn: socket.socket) -> bytes:
    """Read from ``conn`` up to the end of one request head."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def next_request_head(conn: socket.socket, buf: bytes) -> tuple[bytes, bytes] | None:
    """The next request head on a keep-alive ``conn`` (``buf``: bytes already read) and the
    bytes after it; None once the peer closes first."""
    while b"\r\n\r\n" not in buf:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head, rest
