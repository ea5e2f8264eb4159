"""Fixtures: the root `sandbox` with these tests' token, and an aiohttp client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from .helpers import TOKEN


@pytest.fixture
def sandbox_token() -> str:
    """The token of these tests' requests."""
    return TOKEN


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    """A client sending the sandbox's token."""
    async with aiohttp.ClientSession(headers={"Api-Token": TOKEN}) as session:
        yield session
