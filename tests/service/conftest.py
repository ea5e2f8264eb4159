"""The whole service in-process against the real sandbox: config file, SQLite store, HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from gleap_actions.config import load_config
from gleap_actions.service import Service

TOKEN = "gleap-test-token-5f1c"
WRITE_KEY = "wk-test-93ab"
ADMIN_TOKEN = "admin-test-token-77d2"


def write_config(
    folder: Path,
    base_url: str,
    *,
    token: str = TOKEN,
    server: dict[str, Any] | None = None,
    sections: dict[str, Any] | None = None,
    **delivery: Any,
) -> Path:
    """A config file for a service delivering to `base_url` with short retry timings (`server`: more or
    other server settings; `sections`: more top-level sections, e.g. `audiences`)."""
    document = {
        "gleap": {"api_token": token, "base_url": base_url, "timeout": 2},
        "server": {
            "host": "127.0.0.1",
            "port": 0,
            "write_keys": [WRITE_KEY],
            "admin_token": ADMIN_TOKEN,
            **(server or {}),
        },
        "storage": {"data_dir": str(folder / "data")},
        "delivery": {
            "linger": 0.05,
            "initial_backoff": 0.05,
            "max_backoff": 0.3,
            "retry_window": 60,
            **delivery,
        },
        **(sections or {}),
    }
    path = folder / "gleap-actions.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture
def sandbox_token() -> str:
    return TOKEN


@pytest.fixture
async def start_service(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Service]]]:
    started: list[Service] = []

    async def start(
        base_url: str,
        *,
        server: dict[str, Any] | None = None,
        sections: dict[str, Any] | None = None,
        **delivery: Any,
    ) -> Service:
        config = write_config(tmp_path, base_url, server=server, sections=sections, **delivery)
        service = Service(load_config(config))
        await service.start()
        started.append(service)
        return service

    yield start
    for service in started:
        await service.stop(timeout=2)


async def post(url: str, path: str, body: Any, *, key: str | None = WRITE_KEY) -> tuple[int, Any]:
    """POST JSON to the service with the write key as HTTP Basic user."""
    headers = {"Authorization": aiohttp.encode_basic_auth(key, "")} if key is not None else {}
    async with aiohttp.ClientSession() as session, session.post(url + path, json=body, headers=headers) as r:
        return r.status, await r.json(content_type=None)


async def admin(url: str, method: str, path: str, body: Any = None, token: str | None = ADMIN_TOKEN) -> Any:
    """Call the admin API; returns (status, JSON)."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url + path, json=body, headers=headers) as r,
    ):
        return r.status, await r.json(content_type=None)


async def wait_for(check: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll `check` until it is true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)
