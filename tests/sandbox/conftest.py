"""Fixtures: a real sandbox on a free 127.0.0.1 port and an aiohttp client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from gleap_actions.sandbox import Faults, Sandbox

from .helpers import TOKEN


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    """A sandbox without a rate limit, so tests are only limited where they ask to be."""
    async with Sandbox(api_token=TOKEN, faults=Faults(rate_limit=None)) as running:
        yield running


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    """A client sending the sandbox's token."""
    async with aiohttp.ClientSession(headers={"Api-Token": TOKEN}) as session:
        yield session
