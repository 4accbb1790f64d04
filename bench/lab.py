"""Process mechanics of the benchmark: ports, child processes, and the Lab that owns them.

The servers themselves (origin, proxyhub, references) are registered in servers.py with
``@starter(name)``. Every process runs in its own session (process group) under ``taskset``,
with its output in a log file in the lab's temporary directory. ``Lab`` starts each server
at most once, on first use, remembers failures (so a contender that cannot start is reported
once and skipped), and ``Lab.close()`` kills every process group it started, whatever
happened.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent


class StartError(Exception):
    """A server did not come up; the message says why (with the tail of its log)."""


# ---------------------------------------------------------------- ports and processes


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:port (TIME_WAIT leftovers do not count)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def accepts(port: int, timeout: float = 0.25) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def tail(path: Path, lines: int = 12) -> str:
    try:
        text = path.read_text(errors="replace").rstrip()
    except OSError:
        return ""
    return "\n".join("    | " + line for line in text.splitlines()[-lines:])


def last_line(path: Path) -> str:
    """The last non-empty line of a log, shortened: usually the reason a server stopped."""
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines()]
    except OSError:
        return ""
    lines = [ln for ln in lines if ln]
    return lines[-1][:160] if lines else "(empty log)"


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    # A supervisor that stops its own children (proxyhub with workers): SIGTERM it alone, give
    # it this long to drain them, and only then SIGKILL the group.
    leader_only: bool = False
    grace: float = 5.0

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, grace: float | None = None) -> None:
        """SIGTERM the process group (or its leader), then SIGKILL whatever is left."""
        pgid = self.popen.pid  # start_new_session: the child leads its own group
        grace = self.grace if grace is None else grace
        if self.popen.poll() is None:
            if self.leader_only:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pgid, signal.SIGTERM)
            else:
                _killpg(pgid, signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                _killpg(pgid, signal.SIGKILL)
                self.popen.wait(grace)
        # Children that outlived their leader (nginx workers, squid helpers).
        _killpg(pgid, signal.SIGKILL)


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


@dataclass
class Server:
    """A started server: where it listens and anything a scenario needs to know about it."""

    name: str
    port: int
    proc: Proc | None = None
    info: dict[str, object] = field(default_factory=dict)


# ---------------------------------------------------------------- the lab


Starter = Callable[["Lab"], Server]
STARTERS: dict[str, Starter] = {}


def starter(name: str) -> Callable[[Starter], Starter]:
    def register(fn: Starter) -> Starter:
        STARTERS[name] = fn
        return fn

    return register


class Lab:
    """Owns the temporary directory, every child process and the started servers."""

    def __init__(self, proxy_cpu: str, load_cpu: str, python: str, keep: bool = False) -> None:
        self.proxy_cpu = proxy_cpu
        self.load_cpu = load_cpu
        self.python = python
        self.keep = keep
        self.root = Path(tempfile.mkdtemp(prefix="proxyhub-bench-"))
        # Servers that drop privileges (nginx workers, squid) must read and write in here.
        os.chmod(self.root, 0o755)
        self.procs: list[Proc] = []
        self.servers: dict[str, Server] = {}
        self.failures: dict[str, str] = {}

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def dir(self, name: str, mode: int = 0o755) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, mode)
        return path

    def get(self, name: str) -> Server | None:
        """The server ``name``, started on first use; None (error printed once) if it failed."""
        if name in self.servers:
            server = self.servers[name]
            if server.proc is None or server.proc.alive():
                return server
            log = server.proc.log
            status = server.proc.popen.returncode
            del self.servers[name]
            self.failures[name] = f"died during the run (status {status}): {last_line(log)}"
            print(
                f"  ERROR: {name} {self.failures[name]}\n  log {log}:\n{tail(log)}", file=sys.stderr
            )
            return None
        if name in self.failures:
            return None
        print(f"  starting {name} ...", flush=True)
        try:
            server = STARTERS[name](self)
        except StartError as e:
            self.failures[name] = str(e).splitlines()[0]
            if str(e).startswith("skipped"):
                print(f"  {name} {e}", flush=True)
            else:
                print(f"  ERROR: {name} did not start: {e}", file=sys.stderr, flush=True)
            return None
        self.servers[name] = server
        print(f"  {name} listening on 127.0.0.1:{server.port}", flush=True)
        return server

    def spawn(
        self,
        name: str,
        argv: list[str],
        *,
        cpu: str | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Proc:
        log = self.root / f"{name}.log"
        cmd = ["taskset", "-c", cpu or self.proxy_cpu, *argv]
        with open(log, "wb") as out:
            try:
                popen = subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    env=env,
                    cwd=cwd,
                )
            except OSError as e:
                raise StartError(f"cannot run {argv[0]}: {e}") from e
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def wait_ready(self, proc: Proc, ports: list[int], timeout: float = 20.0) -> None:
        """Poll-connect until every port accepts; fail early if the process exits."""
        deadline = time.monotonic() + timeout
        pending = list(ports)
        while pending:
            if not proc.alive():
                raise StartError(
                    f"exited with status {proc.popen.returncode}: {last_line(proc.log)}\n"
                    f"  log {proc.log}:\n{tail(proc.log)}"
                )
            if accepts(pending[0]):
                pending.pop(0)
                continue
            if time.monotonic() > deadline:
                proc.stop()
                raise StartError(
                    f"did not accept on port {pending[0]} within {timeout:.0f}s\n"
                    f"  log {proc.log}:\n{tail(proc.log)}"
                )
            time.sleep(0.05)

    def launch(
        self,
        name: str,
        argv: list[str],
        ports: list[int],
        *,
        cpu: str | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Proc:
        """Check the ports are free, start the process, wait until it accepts on all of them."""
        for port in ports:
            if not port_is_free(port):
                raise StartError(f"port {port} is already in use")
        proc = self.spawn(name, argv, cpu=cpu, env=env, cwd=cwd)
        self.wait_ready(proc, ports)
        return proc

    def close(self) -> None:
        for proc in reversed(self.procs):
            try:
                proc.stop()
            except Exception as e:  # keep killing the others
                print(f"  warning: stopping {proc.name}: {e}", file=sys.stderr)
        self.procs.clear()
        for pid in self.leftovers():
            print(f"  warning: pid {pid} outlived its process group; killing it", file=sys.stderr)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if self.keep:
            print(f"  kept logs and configs in {self.root}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)
            if self.failures:
                print("  (logs removed; run with --keep to keep them)", file=sys.stderr)

    def leftovers(self) -> list[int]:
        """Live processes whose command line names this lab's directory (none, normally)."""
        mine = str(self.root).encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if mine in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
        return found

    def python_env(self) -> dict[str, str]:
        """Environment for Python children: the working tree first on the path."""
        env = dict(os.environ)
        paths = [str(REPO), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
        env["PYTHONPATH"] = os.pathsep.join(paths)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        return env
