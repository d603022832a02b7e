from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from subprocess import Popen

import pytest

from tests.conftest import IsolatedTopics, StackEndpoints
from tests.integration.pipeline_helpers import free_port, service_process

NormalizerRunner = Callable[..., AbstractContextManager[Popen[bytes]]]


@pytest.fixture
def normalizer_env(isolated_topics: IsolatedTopics, tmp_path: Path) -> dict[str, str]:
    port = free_port()
    return {
        "BACKBONE_TOPICS_FILE": str(isolated_topics.path),
        "BACKBONE_NORMALIZER_APP_ID": f"status_normalizer-{isolated_topics.suffix}",
        "BACKBONE_NORMALIZER_DATADIR": str(tmp_path / "normalizer-data"),
        "BACKBONE_NORMALIZER_WEB_PORT": str(port),
        "BACKBONE_LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def run_normalizer(
    stack_env: StackEndpoints, normalizer_env: dict[str, str], tmp_path: Path
) -> NormalizerRunner:
    def start(**extra: str) -> AbstractContextManager[Popen[bytes]]:
        env = {**normalizer_env, **extra}
        url = f"http://127.0.0.1:{env['BACKBONE_NORMALIZER_WEB_PORT']}/readyz"
        return service_process(["normalizer"], env, url, tmp_path / "normalizer.log", timeout=120)

    return start
