"""`SandboxThread`: a `Sandbox` running in a background thread with its own event loop, for
synchronous tests and the CLI. Its `state` is safe to read from the calling thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from types import TracebackType
from typing import Any

from gleap_actions.sandbox.faults import Faults
from gleap_actions.sandbox.runner import DEFAULT_API_TOKEN, Sandbox
from gleap_actions.sandbox.state import SandboxState


class SandboxThread:
    """Runs a `Sandbox` in a daemon thread: `with SandboxThread() as sandbox: ... sandbox.url ...`."""

    def __init__(
        self,
        api_token: str = DEFAULT_API_TOKEN,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Faults | None = None,
        *,
        request_log_size: int = 1000,
    ) -> None:
        self.sandbox = Sandbox(api_token, host, port, faults, request_log_size=request_log_size)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Event | None = None

    @property
    def url(self) -> str:
        """The sandbox's base URL."""
        return self.sandbox.url

    @property
    def port(self) -> int:
        """The port listened on."""
        return self.sandbox.port

    @property
    def state(self) -> SandboxState:
        """What the sandbox received (thread-safe readers)."""
        return self.sandbox.state

    @property
    def faults(self) -> Faults:
        """The faults in force."""
        return self.sandbox.faults

    def start(self) -> SandboxThread:
        """Start the thread and return once the sandbox listens (raising its start-up error, if any)."""
        if self._thread is not None:
            raise RuntimeError("the sandbox thread is already started")
        started: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, args=(started,), name="gleap-sandbox", daemon=True)
        self._thread.start()
        try:
            started.result()
        except BaseException:
            self._thread.join()
            self._thread = None
            raise
        return self

    def stop(self) -> None:
        """Stop the sandbox and join the thread."""
        if self._thread is None:
            return
        assert self._loop is not None and self._stopped is not None
        self._loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join()
        self._thread = None

    def set_faults(self, faults: Faults | None = None, /, **changes: Any) -> Faults:
        """`Sandbox.set_faults`, run on the sandbox's loop; raises `FaultSpecError` on a bad change."""
        if self._loop is None or self._thread is None:
            return self.sandbox.set_faults(faults, **changes)

        async def apply() -> Faults:
            return self.sandbox.set_faults(faults, **changes)

        return asyncio.run_coroutine_threadsafe(apply(), self._loop).result()

    def reset_faults(self) -> Faults:
        """Restore the faults the sandbox was created with."""
        return self.set_faults(self.sandbox.initial_faults)

    def __enter__(self) -> SandboxThread:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _run(self, started: concurrent.futures.Future[None]) -> None:
        asyncio.run(self._main(started))

    async def _main(self, started: concurrent.futures.Future[None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        try:
            await self.sandbox.start()
        except BaseException as exc:
            started.set_exception(exc)
            return
        started.set_result(None)
        try:
            await self._stopped.wait()
        finally:
            await self.sandbox.stop()
