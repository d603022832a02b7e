import sys
import time
from pathlib import Path

import psutil
import pytest

from backbone.errors import StackError
from backbone.stack.process import child_process, free_port, http_ok


def test_child_is_healthy_inside_and_its_whole_group_is_gone_after(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    # A parent that starts a grandchild and serves HTTP: stopping must take the grandchild too.
    script = (
        "import subprocess, sys, http.server\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"http.server.ThreadingHTTPServer(('127.0.0.1', {port}), http.server.SimpleHTTPRequestHandler).serve_forever()\n"
    )
    with child_process([sys.executable, "-c", script], tmp_path / "child.log", health=url, timeout=30) as proc:
        assert http_ok(url)
        family = [proc.pid, *(c.pid for c in psutil.Process(proc.pid).children(recursive=True))]
        assert len(family) == 2
    assert proc.returncode is not None
    # The grandchild got the group's SIGTERM too; it exits on its own schedule, shortly after.
    deadline = time.monotonic() + 10
    while any(_running(pid) for pid in family) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_running(pid) for pid in family)
    assert not http_ok(url)


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_child_that_exits_before_it_is_healthy_fails_with_its_log(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    script = "import sys; print('no config for this service'); sys.exit(3)"
    health = f"http://127.0.0.1:{free_port()}/"
    with (pytest.raises(StackError, match=r"exited with 3(.|\n)*no config for this service"),
          child_process([sys.executable, "-c", script], log, health=health)):
        pytest.fail("must not be reached")


def test_a_child_that_never_answers_times_out(tmp_path: Path) -> None:
    script = "import time; time.sleep(60)"
    health = f"http://127.0.0.1:{free_port()}/"
    with (pytest.raises(StackError, match="not healthy after"),
          child_process([sys.executable, "-c", script], tmp_path / "child.log", health=health, timeout=1.5)):
        pytest.fail("must not be reached")
