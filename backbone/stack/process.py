"""Start, watch and stop background server processes, with real error causes.

Used by the local stack (Kafka, the registry, PostgreSQL), by ``backbone run`` for the services,
and by the integration tests and benchmarks that run services as real processes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import psutil

from backbone.errors import StackError

__all__ = [
    "alive",
    "child_process",
    "free_port",
    "http_ok",
    "log_tail",
    "port_free",
    "spawn",
    "stop",
    "stop_group",
    "wait_http",
    "wait_until",
]


def free_port() -> int:
    """A loopback port nobody listens on right now (for a child service's health or HTTP port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def who_listens(port: int) -> str:
    with contextlib.suppress(psutil.Error):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
                with contextlib.suppress(psutil.Error):
                    proc = psutil.Process(conn.pid)
                    return f"pid {conn.pid} ({proc.name()})"
    return "another process"


def require_port(port: int, what: str, env_var: str) -> None:
    if not port_free(port):
        raise StackError(
            f"port {port} for {what} is taken by {who_listens(port)}; stop it or set {env_var} to another port"
        )


def spawn(
    cmd: list[str], log: Path, *, cwd: Path | None = None, env: dict[str, str] | None = None, user: str | None = None
) -> int:
    """Start ``cmd`` in its own session (so down can signal the whole group), output to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            start_new_session=True,
            # Drop root's groups too: a root gid would get a directory's (empty) group bits.
            user=user,
            group=user,
            extra_groups=[] if user else None,
        )
    return proc.pid


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def log_tail(log: Path, lines: int = 25) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_until(check: Callable[[], bool], *, pid: int, timeout: float, what: str, log: Path) -> float:
    """Poll ``check`` until true; fail with the log tail when the process died or time ran out."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if not alive(pid):
            raise StackError(f"{what} exited during start-up; last log lines from {log}:\n{log_tail(log)}")
        with contextlib.suppress(Exception):
            if check():
                return time.monotonic() - start
        time.sleep(0.25)
    raise StackError(f"{what} not ready after {timeout:.0f}s; last log lines from {log}:\n{log_tail(log)}")


def stop(pid: int | None, *, timeout: float = 20.0) -> bool:
    """SIGTERM the process group, SIGKILL after ``timeout``; True when something was stopped."""
    if not alive(pid):
        return False
    assert pid is not None
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    try:
        psutil.Process(pid).wait(timeout)
    except psutil.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).wait(5)
    except psutil.Error:
        pass
    return True


def http_ok(url: str, timeout: float = 1.0) -> bool:
    """True when ``url`` answers 200 (health and readiness probes of local children)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback URLs only
            return bool(resp.status == 200)
    except Exception:
        return False


def wait_http(url: str, proc: subprocess.Popen[bytes] | None, timeout: float, log: Path | None = None) -> None:
    """Wait until ``url`` answers 200; fail early, with the log tail, when ``proc`` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log_tail(log, 40) if log else ""
            raise StackError(f"process exited with {proc.returncode} before {url} answered:\n{tail}")
        if http_ok(url):
            return
        time.sleep(0.3)
    raise StackError(f"{url} not healthy after {timeout:.0f}s" + (f"; see {log}" if log else ""))


def stop_group(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """SIGTERM ``proc``'s process group (it was started in its own session), SIGKILL after ``timeout``."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


@contextmanager
def child_process(cmd: Sequence[str], log: Path, *, env: dict[str, str] | None = None, health: str | None = None,
                  timeout: float = 120.0, stop_timeout: float = 30.0) -> Iterator[subprocess.Popen[bytes]]:
    """``cmd`` in its own process group with output to ``log``, healthy when ``health`` answers 200;
    the whole group is stopped on exit (a worker's own children go with it)."""
    with log.open("ab") as out:
        proc = subprocess.Popen(list(cmd), env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        if health:
            wait_http(health, proc, timeout, log)
        yield proc
    finally:
        stop_group(proc, stop_timeout)
