"""Fixtures of the reliability scenarios: a sandbox in the test process (it survives any kill of the
service) and a `gleap-actions serve` process configured against it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .harness import TOKEN, ServeProcess, free_port, write_config

StartServe = Callable[..., ServeProcess]


@pytest.fixture
def sandbox_token() -> str:
    return TOKEN


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[StartServe]:
    """Start `gleap-actions serve` against a base URL; stopped (SIGTERM) at the end of the test."""
    started: list[ServeProcess] = []

    def start(base_url: str, **options: Any) -> ServeProcess:
        config = write_config(tmp_path, base_url, port=free_port(), **options)
        process = ServeProcess(config, tmp_path / "serve.log").start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
