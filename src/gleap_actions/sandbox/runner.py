"""`Sandbox`: the Gleap API emulator as a real HTTP server on a local port, embeddable in async code.

The sandbox owns its listening socket (rather than an aiohttp site) so that a "connection refused"
outage can close it and reopen it on the same port when the window ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from types import TracebackType
from typing import Any

from aiohttp import web

from gleap_actions.sandbox.app import SandboxRoutes
from gleap_actions.sandbox.faults import Faults
from gleap_actions.sandbox.injector import FaultInjector
from gleap_actions.sandbox.state import SandboxState

DEFAULT_API_TOKEN = "sandbox-token"

logger = logging.getLogger(__name__)


class Sandbox:
    """A local Gleap API server with inspectable state and fault injection.

    `faults=None` means a well-behaved Gleap with its documented rate limit (`Faults()`). Use it as
    `async with Sandbox(...) as sandbox:` or call `start()` and `stop()`; `url` is valid once started.
    """

    def __init__(
        self,
        api_token: str = DEFAULT_API_TOKEN,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Faults | None = None,
        *,
        request_log_size: int = 1000,
    ) -> None:
        if not api_token:
            raise ValueError("api_token must not be empty")
        self.host = host
        self._port = port
        self.initial_faults = faults if faults is not None else Faults()
        self.state = SandboxState(request_log_size)
        self._injector = FaultInjector(self.initial_faults, time.monotonic())
        self._routes = SandboxRoutes(self.state, self._injector, api_token, self)
        self._runner: web.AppRunner | None = None
        self._server: asyncio.Server | None = None
        self._listener_task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        """The port listened on (the real one once started with `port=0`)."""
        return self._port

    @property
    def url(self) -> str:
        """The base URL to configure as Gleap's, e.g. `http://127.0.0.1:41234`."""
        if self._runner is None:
            raise RuntimeError("the sandbox is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}"

    @property
    def faults(self) -> Faults:
        """The faults in force."""
        return self._injector.faults

    async def start(self) -> None:
        """Bind the port and serve; a fault spec with an outage starts its window now."""
        if self._runner is not None:
            raise RuntimeError("the sandbox is already started")
        # Created here so that the sandbox binds to the loop it is started in.
        self._routes.closing = asyncio.Event()
        runner = web.AppRunner(self._routes.build_app(), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        self._runner = runner
        try:
            await self._listen()
        except BaseException:
            await runner.cleanup()
            self._runner = None
            raise
        self.set_faults(self._injector.faults)

    async def stop(self) -> None:
        """Release held requests, close the socket and every connection."""
        if self._runner is None:
            return
        self._routes.closing.set()
        if self._listener_task is not None:
            self._listener_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener_task
            self._listener_task = None
        self._close_listener()
        await self._runner.cleanup()
        self._runner = None

    def set_faults(self, faults: Faults | None = None, /, **changes: Any) -> Faults:
        """Put faults in force now: `faults` replaces them all, keyword arguments change single fields
        (validated like the JSON spec, e.g. `set_faults(error_rate=0.5, error_status=503)`). Call it
        from the sandbox's event loop (or before `start`). Returns the faults now in force."""
        new = faults if faults is not None else self._injector.faults
        if changes:
            new = Faults.from_json(changes, base=new)
        self._injector.configure(new, time.monotonic())
        if self._runner is not None:
            self._schedule_outage()
        return new

    def reset_faults(self) -> Faults:
        """Restore the faults the sandbox was created with."""
        return self.set_faults(self.initial_faults)

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def _listen(self) -> None:
        assert self._runner is not None and self._runner.server is not None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._runner.server, self.host, self._port, reuse_address=True
        )
        self._port = self._server.sockets[0].getsockname()[1]

    def _close_listener(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def _schedule_outage(self) -> None:
        """Re-plan the listener for the faults now in force (replacing any earlier plan)."""
        if self._listener_task is not None:
            self._listener_task.cancel()
        outage = self._injector.faults.outage
        window = self._injector.outage_window if outage is not None and outage.mode == "refuse" else None
        self._listener_task = asyncio.get_running_loop().create_task(self._plan_listener(window))

    async def _plan_listener(self, refuse_window: tuple[float, float] | None) -> None:
        """Close the socket for a refusing outage's window, and make sure it listens otherwise."""
        if refuse_window is not None:
            start, end = refuse_window
            await asyncio.sleep(max(0.0, start - time.monotonic()))
            self._close_listener()
            await asyncio.sleep(max(0.0, end - time.monotonic()))
        while self._server is None:
            try:
                await self._listen()
            except OSError as exc:  # someone took the port meanwhile: keep trying, it is ours
                logger.warning("sandbox cannot listen again on port %s (%s); retrying", self._port, exc)
                await asyncio.sleep(0.5)
