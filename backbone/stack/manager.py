"""``backbone stack up|down|status``: idempotent start, clean stop by pid, endpoints in stack.env."""

from __future__ import annotations

import contextlib
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from backbone import env
from backbone.config import state_dir
from backbone.errors import StackError
from backbone.stack.components import Component, KafkaBroker, Postgres, Registry
from backbone.stack.process import alive, require_port, stop, wait_until

__all__ = ["ComponentStatus", "Stack", "StackStatus"]

_EXTERNAL = {"kafka": env.KAFKA_BOOTSTRAP_SERVERS, "registry": env.SCHEMA_REGISTRY_URL, "postgres": env.DATABASE_URL}


@dataclass
class ComponentStatus:
    name: str
    state: str  # running | stopped | external | started
    pid: int | None = None
    endpoint: str = ""
    seconds: float | None = None


@dataclass
class StackStatus:
    components: list[ComponentStatus] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def running(self) -> bool:
        return all(c.state in ("running", "started", "external") for c in self.components)


class Stack:
    def __init__(self, state: Path | None = None) -> None:
        self.state = state or state_dir()
        self.components: list[Component] = [KafkaBroker(self.state), Registry(self.state), Postgres(self.state)]

    @property
    def pid_file(self) -> Path:
        return self.state / "stack.json"

    @property
    def env_file(self) -> Path:
        return self.state / "stack.env"

    def _pids(self) -> dict[str, int]:
        try:
            data: dict[str, int] = json.loads(self.pid_file.read_text())
            return data
        except (OSError, ValueError):
            return {}

    def _save_pids(self, pids: dict[str, int]) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        self.pid_file.write_text(json.dumps(pids, indent=2) + "\n")

    @staticmethod
    def _external(component: Component) -> str | None:
        return os.environ.get(_EXTERNAL[component.name]) or None

    def up(self, timeout: float = 120.0) -> StackStatus:
        """Start what is not running (reusing what is), wait for real readiness, write stack.env."""
        t0 = time.monotonic()
        self.state.mkdir(parents=True, exist_ok=True)
        pids = self._pids()
        status = StackStatus()
        to_start = []
        for comp in self.components:
            ext = self._external(comp)
            if ext:
                status.components.append(ComponentStatus(comp.name, "external", endpoint=ext))
                status.env[_EXTERNAL[comp.name]] = ext
                continue
            pid = pids.get(comp.name)
            if alive(pid):
                status.components.append(ComponentStatus(comp.name, "running", pid, _endpoint(comp)))
            else:
                require_port(comp.port, comp.name, comp.port_env)
                to_start.append(comp)
            status.env.update(comp.env())
        # Downloads and one-time init run in parallel; each raises StackError with its real cause.
        with ThreadPoolExecutor(max_workers=3) as pool:
            for fut in [pool.submit(c.prepare) for c in to_start]:
                fut.result()
        started: dict[str, int] = {}
        try:
            for comp in to_start:
                started[comp.name] = comp.start()
                pids[comp.name] = started[comp.name]
                self._save_pids(pids)
            for comp in to_start:
                secs = wait_until(comp.ready, pid=started[comp.name], timeout=timeout, what=comp.name, log=comp.log)
                status.components.append(
                    ComponentStatus(comp.name, "started", started[comp.name], _endpoint(comp), round(secs, 1))
                )
        except BaseException:
            for name, pid in started.items():
                stop(pid)
                pids.pop(name, None)
            self._save_pids(pids)
            raise
        for comp in self.components:  # already-running ones must still answer
            pid = pids.get(comp.name)
            if comp not in to_start and not self._external(comp):
                wait_until(comp.ready, pid=pid or 0, timeout=30, what=comp.name, log=comp.log)
        self._write_env(status.env)
        status.seconds = round(time.monotonic() - t0, 1)
        order = {c.name: i for i, c in enumerate(self.components)}
        status.components.sort(key=lambda c: order[c.name])
        return status

    def _write_env(self, values: dict[str, str]) -> None:
        lines = ["# written by `backbone stack up`; `source` it in any shell"]
        lines += [f"{k}={v}" for k, v in sorted(values.items())]
        self.env_file.write_text("\n".join(lines) + "\n")

    def down(self) -> list[str]:
        """Stop every process this stack started; returns the names stopped."""
        pids = self._pids()
        stopped = []
        for comp in reversed(self.components):
            if stop(pids.get(comp.name)):
                stopped.append(comp.name)
        with contextlib.suppress(FileNotFoundError):
            self.pid_file.unlink()
        with contextlib.suppress(FileNotFoundError):
            self.env_file.unlink()
        return stopped

    def status(self) -> StackStatus:
        pids = self._pids()
        status = StackStatus()
        for comp in self.components:
            ext = self._external(comp)
            if ext:
                status.components.append(ComponentStatus(comp.name, "external", endpoint=ext))
                continue
            pid = pids.get(comp.name)
            state = "stopped"
            if alive(pid):
                state = "running"
                try:
                    comp.ready()
                except Exception:
                    state = "unhealthy"
            status.components.append(ComponentStatus(comp.name, state, pid if alive(pid) else None, _endpoint(comp)))
            if state == "running":
                status.env.update(comp.env())
        return status

    def component(self, name: str) -> Component:
        for comp in self.components:
            if comp.name == name:
                return comp
        raise StackError(f"no stack component {name!r}")

    def restart(self, name: str, pause: float = 0.0, timeout: float = 90.0) -> None:
        """Stop one component and start it again (fault tests: broker restart mid-load)."""
        pids = self._pids()
        comp = self.component(name)
        stop(pids.get(name))
        if pause:
            time.sleep(pause)
        pids[name] = comp.start()
        self._save_pids(pids)
        wait_until(comp.ready, pid=pids[name], timeout=timeout, what=name, log=comp.log)

    def kill(self, name: str) -> None:
        stop(self._pids().get(name), timeout=10)

    def start(self, name: str, timeout: float = 90.0) -> None:
        pids = self._pids()
        comp = self.component(name)
        pids[name] = comp.start()
        self._save_pids(pids)
        wait_until(comp.ready, pid=pids[name], timeout=timeout, what=name, log=comp.log)


def _endpoint(comp: Component) -> str:
    return next(iter(comp.env().values()))
