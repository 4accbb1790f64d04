"""Bodies stream with backpressure: proxy memory stays flat for 1 GiB each way."""

from __future__ import annotations

import socket
import threading
import time

from .conftest import Proxy
from .origins import Origin, ScriptedOrigin, read_head

GIB = 1024**3
MIB = 1024**2


def rss(pid: int) -> int:
    """Resident set size of ``pid`` in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


class RssSampler:
    """Samples a process's RSS in the background and keeps the peak."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, rss(self.pid))

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def read_until(s: socket.socket, received: int, total: int) -> int:
    """Read ``s`` (``received`` bytes in) until ``total`` have arrived; return the count."""
    while received < total:
        chunk = s.recv(1 << 20)
        assert chunk, "closed early"
        received += len(chunk)
    return received


def test_1gib_download_to_a_slow_reader_keeps_memory_flat(proxy: Proxy, origin: Origin) -> None:
    """A client that stalls mid-download makes the proxy stop reading, not buffer."""
    baseline = rss(proxy.proc.pid)
    sampler = RssSampler(proxy.proc.pid)
    received = 0
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=30) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.sendall(f"GET {origin.url(f'/big?size={GIB}')} HTTP/1.1\r\nHost: h\r\n\r\n".encode())
        head = s.recv(65536)
        assert head.startswith(b"HTTP/1.1 200 ")
        received = len(head.partition(b"\r\n\r\n")[2])
        while received < 4 * MIB:
            received += len(s.recv(65536))
        time.sleep(2.0)  # the slow part: the origin keeps sending meanwhile
        stalled_peak = sampler.peak
        received = read_until(s, received, GIB)
    peak = sampler.stop()
    assert received == GIB
    assert stalled_peak - baseline < 32 * MIB
    assert peak - baseline < 32 * MIB


def test_1gib_upload_to_a_slow_origin_keeps_memory_flat(proxy: Proxy) -> None:
    """A slow origin makes the proxy stop reading the client's upload, not buffer it."""
    counted: list[int] = []

    def slow_sink(conn: socket.socket) -> None:
        head = read_head(conn)
        total = len(head.partition(b"\r\n\r\n")[2])
        time.sleep(2.0)
        while total < GIB:
            chunk = conn.recv(1 << 20)
            if not chunk:
                break
            total += len(chunk)
        counted.append(total)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    origin = ScriptedOrigin(slow_sink)
    baseline = rss(proxy.proc.pid)
    sampler = RssSampler(proxy.proc.pid)
    block = b"u" * (1 << 20)
    try:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=60) as s:
            head = f"POST {origin.url('/')} HTTP/1.1\r\nHost: h\r\nContent-Length: {GIB}\r\n\r\n"
            s.sendall(head.encode())
            for _ in range(GIB // len(block)):
                s.sendall(block)
            answer = s.recv(65536)
    finally:
        origin.close()
    peak = sampler.stop()
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert counted == [GIB]
    assert peak - baseline < 32 * MIB


def test_1gib_through_the_reverse_proxy_to_a_slow_reader(start_proxy, origin: Origin) -> None:  # type: ignore[no-untyped-def]
    """The front end streams a 1 GiB backend response with the same flat memory."""
    front = start_proxy(
        sections={
            "reverse": {"listen": "tcp:{port}:interface=127.0.0.1"},
            "host:*": {"backends": f"http://127.0.0.1:{origin.port}"},
        }
    )
    baseline = rss(front.proc.pid)
    sampler = RssSampler(front.proc.pid)
    received = 0
    with socket.create_connection(("127.0.0.1", front.port), timeout=30) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.sendall(f"GET /big?size={GIB} HTTP/1.1\r\nHost: site.test\r\n\r\n".encode())
        head = s.recv(65536)
        assert head.startswith(b"HTTP/1.1 200 ")
        received = len(head.partition(b"\r\n\r\n")[2])
        time.sleep(2.0)
        received = read_until(s, received, GIB)
    peak = sampler.stop()
    assert received == GIB
    assert peak - baseline < 32 * MIB
