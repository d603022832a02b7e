"""``backbone run``: the whole backbone on the local stack, in the foreground, until Ctrl-C.

Starts the stack, applies topics and schemas, launches every service and simulator as a child
process (each with its own logs under .backbone/logs/), plays the demo once, and on Ctrl-C stops
the children (SIGTERM, graceful) and the stack it started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from backbone.config import state_dir
from backbone.stack.process import http_ok, stop_group

__all__ = ["PROCESSES", "ProcessSpec", "run_backbone"]

console = Console(soft_wrap=True)


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    command: tuple[str, ...]
    health: str | None  # URL answering 200 when ready


# What `make run` starts, in order: simulators first so the sinks find their targets.
PROCESSES: tuple[ProcessSpec, ...] = (
    ProcessSpec("odoo-sim", ("sim", "odoo", "--port", "8069", "--delivery-state"), "http://127.0.0.1:8069/_sim/state"),
    ProcessSpec(
        "wms-sim",
        ("sim", "wms", "--port", "8070", "--webhook-url", "http://127.0.0.1:8080/v1/webhooks/shiphero"),
        "http://127.0.0.1:8070/_sim/state",
    ),
    ProcessSpec(
        "carrier-sim",
        ("sim", "carrier", "--port", "8071", "--webhook-url", "http://127.0.0.1:8080/v1/webhooks/easypost"),
        "http://127.0.0.1:8071/_sim/state",
    ),
    ProcessSpec("ingest", ("ingest", "--port", "8080"), "http://127.0.0.1:8080/readyz"),
    ProcessSpec("normalizer", ("normalizer",), "http://127.0.0.1:6066/healthz"),
    ProcessSpec("odoo-sink", ("odoo-sink",), "http://127.0.0.1:8181/healthz"),
    ProcessSpec("wms-bridge", ("wms-bridge",), "http://127.0.0.1:8182/healthz"),
    ProcessSpec("carrier-bridge", ("carrier-bridge",), "http://127.0.0.1:8183/healthz"),
)

# Local-only demo credentials: the simulators sign with these and ingest verifies them.
DEMO_ENV = {
    "BACKBONE_INGEST_DEMO_SECRETS": "1",
    "BACKBONE_ODOO_API_KEY": "odoo-dev-key",
    "BACKBONE_WMS_API_KEY": "demo-wms-key",
    "BACKBONE_CARRIER_API_KEY": "demo-carrier-key",
    "BACKBONE_ODOO_SINK_HEALTH_PORT": "8181",
    "BACKBONE_WMS_BRIDGE_HEALTH_PORT": "8182",
    "BACKBONE_CARRIER_BRIDGE_HEALTH_PORT": "8183",
    "BACKBONE_LOG_FORMAT": "json",
    "BACKBONE_WMS_BRIDGE_RECONCILE_INTERVAL": "3",  # the demo's packed step is seen by the poll
    "BACKBONE_NORMALIZER_BATCH_WITHIN": "0.01",
}


def _available(spec: ProcessSpec) -> bool:
    import typer.main

    from backbone.cli.main import app

    group = typer.main.get_command(app)
    ctx_cmds = getattr(group, "commands", {})
    head = spec.command[0]
    if head not in ctx_cmds:
        return False
    if head == "sim":
        return spec.command[1] in getattr(ctx_cmds["sim"], "commands", {})
    return True


def run_backbone(demo: bool = True, ready_timeout: float = 90.0) -> int:
    from backbone.stack import Stack

    stack = Stack()
    was_running = stack.status().running
    status = stack.up()
    console.print(
        f"[green]stack ready[/] in {status.seconds}s: " + ", ".join(f"{k}={v}" for k, v in status.env.items())
    )
    env = {**os.environ, **status.env, **DEMO_ENV}
    backbone = [sys.executable, "-m", "backbone.cli.main"]
    for args in (("topics", "apply"), ("schemas", "register")):
        subprocess.run([*backbone, *args], env=env, check=True)
    logs = state_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    children: list[tuple[ProcessSpec, subprocess.Popen[bytes]]] = []
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        for spec in PROCESSES:
            if not _available(spec):
                console.print(f"[yellow]skip[/] {spec.name}: `backbone {' '.join(spec.command)}` not available")
                continue
            log = (logs / f"{spec.name}.log").open("ab")
            proc = subprocess.Popen(
                [*backbone, *spec.command], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            children.append((spec, proc))
            console.print(f"started {spec.name} (pid {proc.pid}), log {logs / (spec.name + '.log')}")
        deadline = time.monotonic() + ready_timeout
        for spec, proc in children:
            while spec.health and not http_ok(spec.health):
                if proc.poll() is not None:
                    console.print(f"[red]{spec.name} exited with {proc.returncode}; see {logs / (spec.name + '.log')}")
                    return 1
                if time.monotonic() > deadline or stopping:
                    console.print(f"[red]{spec.name} not healthy at {spec.health} after {ready_timeout:.0f}s")
                    return 1
                time.sleep(0.5)
        console.print("[green]backbone running[/]: " + ", ".join(s.name for s, _ in children))
        _print_examples()
        if demo and not stopping:
            _play_demo(env)
        console.print("Ctrl-C stops everything this command started.")
        while not stopping:
            for spec, proc in children:
                if proc.poll() is not None:
                    console.print(f"[red]{spec.name} exited with {proc.returncode}; see {logs / (spec.name + '.log')}")
                    stopping = True
            time.sleep(0.5)
        return 0
    finally:
        for _, proc in reversed(children):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for _, proc in children:
            stop_group(proc, 30.0)  # already signalled above: this waits, and kills what lingers
        if not was_running:
            stack.down()
            console.print("stack stopped")


def _play_demo(env: dict[str, str]) -> None:
    import importlib

    demo_mod = importlib.import_module("backbone.cli.demo")
    try:
        demo_mod.play(env)
    except Exception as exc:  # the demo is a show; a failure must not take the backbone down
        console.print(f"[red]demo failed:[/] {exc}")


def _print_examples() -> None:
    fixture = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "partners" / "generic_milestone.json"
    console.print(
        "Try it (generic partner API, local demo key):\n"
        f"  curl -sS -X POST http://127.0.0.1:8080/v1/events -H 'Authorization: Bearer demo-generic-tms-key' "
        f"-H 'Content-Type: application/json' --data-binary @{fixture}"
    )
