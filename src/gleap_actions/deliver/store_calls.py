"""`StoreCalls`: synchronous store calls run off the event loop, in the pipeline's store threads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class StoreCalls:
    """Runs synchronous store calls in a worker thread."""

    def __init__(self, call: Callable[[Callable[[], Any]], Awaitable[Any]]) -> None:
        self._call = call

    async def __call__(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)` off the event loop."""
        result: T = await self._call(lambda: fn(*args, **kwargs))
        return result
