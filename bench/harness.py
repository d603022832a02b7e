"""Benchmark harness shared by every bench module: timing, CPU accounting, percentiles, JSON results.

Each benchmark reports wall-clock throughput *and* per-core throughput (events per CPU-second of
the processes doing the work), so figures mean something on a noisy 2-core machine, and compares
itself with a baseline measured in the same run.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from backbone.stack.process import child_process, free_port

__all__ = ["Measure", "child_process", "free_port", "percentiles", "service_process", "write_result"]

RESULTS = Path(__file__).parent / "results"


def percentiles(samples_ms: Sequence[float], points: Sequence[float] = (50, 90, 99, 99.9)) -> dict[str, float]:
    if not samples_ms:
        return {}
    ordered = sorted(samples_ms)
    out = {}
    for p in points:
        idx = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
        out[f"p{p:g}"] = round(ordered[idx], 3)
    return out


@dataclass
class Measure:
    """Wall time plus CPU seconds of the given processes (default: this one) over a block."""

    pids: list[int] = field(default_factory=lambda: [os.getpid()])
    wall: float = 0.0
    cpu: float = 0.0
    rss_mb: float = 0.0

    def _cpu(self) -> float:
        total = 0.0
        for pid in self.pids:
            with contextlib.suppress(psutil.Error):
                t = psutil.Process(pid).cpu_times()
                total += t.user + t.system + getattr(t, "children_user", 0) + getattr(t, "children_system", 0)
        return total

    @contextmanager
    def run(self) -> Iterator[Measure]:
        c0, t0 = self._cpu(), time.perf_counter()
        yield self
        self.wall = time.perf_counter() - t0
        self.cpu = self._cpu() - c0
        rss = 0
        for pid in self.pids:
            with contextlib.suppress(psutil.Error):
                rss = max(rss, psutil.Process(pid).memory_info().rss)
        self.rss_mb = round(rss / 1e6, 1)

    def rates(self, events: int, nbytes: int = 0) -> dict[str, float]:
        out = {
            "events": events,
            "wall_s": round(self.wall, 3),
            "cpu_s": round(self.cpu, 3),
            "events_per_s": round(events / self.wall, 1) if self.wall else 0.0,
            "events_per_cpu_s": round(events / self.cpu, 1) if self.cpu else 0.0,
            "rss_mb": self.rss_mb,
        }
        if nbytes:
            out["mb_per_s"] = round(nbytes / self.wall / 1e6, 2) if self.wall else 0.0
        return out


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
    }


def write_result(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    doc = {"benchmark": name, "at": datetime.now(UTC).isoformat(), "machine": machine(), **data}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


@contextmanager
def service_process(args: Sequence[str], env: dict[str, str], health: str | None, log: Path,
                    timeout: float = 120.0) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m <args>`` in its own process group, answering 200 on ``health``; stopped after."""
    with child_process([sys.executable, "-m", *args], log, env=env, health=health, timeout=timeout,
                       stop_timeout=60.0) as proc:
        yield proc
