"""The stack manager on its own ports and state dir, so the shared test stack is untouched."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from backbone.errors import StackError
from backbone.stack import Stack
from backbone.stack.process import port_free

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_up_twice_reuses_and_down_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("KAFKA_BOOTSTRAP_SERVERS", "SCHEMA_REGISTRY_URL", "DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("BACKBONE_STACK_KAFKA_PORT", "29092")
    monkeypatch.setenv("BACKBONE_STACK_REGISTRY_PORT", "28081")
    monkeypatch.setenv("BACKBONE_STACK_POSTGRES_PORT", "25432")
    stack = Stack(tmp_path / "state")
    try:
        first = stack.up()
        assert [c.state for c in first.components] == ["started", "started", "started"]
        pids = {c.name: c.pid for c in first.components}
        env_text = (tmp_path / "state" / "stack.env").read_text()
        assert "KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:29092" in env_text
        assert "SCHEMA_REGISTRY_URL=http://127.0.0.1:28081/apis/ccompat/v7" in env_text
        assert "DATABASE_URL=postgresql://postgres@127.0.0.1:25432/backbone" in env_text

        second = stack.up()
        assert [c.state for c in second.components] == ["running", "running", "running"]
        assert {c.name: c.pid for c in second.components} == pids
        assert second.seconds < 5
    finally:
        stopped = stack.down()
    assert sorted(stopped) == ["kafka", "postgres", "registry"]
    for pid in pids.values():
        assert (pid is not None and not psutil.pid_exists(pid)) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    for port in (29092, 29093, 28081, 25432):
        assert port_free(port), f"port {port} still bound after down"
    assert not (tmp_path / "state" / "stack.env").exists()
    assert stack.status().running is False


def test_port_taken_names_the_cause(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    for var in ("KAFKA_BOOTSTRAP_SERVERS", "SCHEMA_REGISTRY_URL", "DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        monkeypatch.setenv("BACKBONE_STACK_KAFKA_PORT", str(port))
        with pytest.raises(StackError, match=rf"port {port} for kafka is taken by pid \d+ .*BACKBONE_STACK_KAFKA_PORT"):
            Stack(tmp_path / "state").up()
