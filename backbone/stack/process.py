"""Start, watch and stop one background server process by pid, with real error causes."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from backbone.errors import StackError

__all__ = ["alive", "log_tail", "port_free", "spawn", "stop", "wait_until"]


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
