"""The credentials gate, one per destination: its delivery pauses while Gleap rejects its token (401/403).

Events are never burnt on bad credentials: the work is released and nothing is sent until the gate
reopens, either on `resume()` (after a config reload) or by itself every `probe_interval` seconds, when
the next request acts as the probe. The alert gauge stays up until a request succeeds again.
"""

from __future__ import annotations

import asyncio
import logging

from gleap_actions.deliver.metrics import PipelineMetrics

log = logging.getLogger(__name__)


class CredentialsGate:
    """Open while delivery may send; closed (paused) after a credentials failure."""

    def __init__(
        self, metrics: PipelineMetrics, *, probe_interval: float = 30.0, destination: str = "default"
    ) -> None:
        self._destination = destination
        self._paused_gauge = metrics.credentials_paused.labels(destination)
        # A new gate (a lane started, or replaced by a reload with a new token) has refused nothing yet.
        self._paused_gauge.set(0)
        self._probe_interval = probe_interval
        self._open = asyncio.Event()
        self._open.set()
        self._alert = False
        self._probe: asyncio.TimerHandle | None = None

    @property
    def paused(self) -> bool:
        """True while nothing may be sent."""
        return not self._open.is_set()

    def pause(self, status: int | None) -> None:
        """A request was answered 401/403: stop sending, raise the alert, schedule a probe."""
        if not self._alert:
            log.error(
                "event=delivery_paused reason=invalid_credentials status=%s probe_interval=%s destination=%s",
                status,
                self._probe_interval,
                self._destination,
            )
        self._alert = True
        self._paused_gauge.set(1)
        if self._open.is_set():
            self._open.clear()
            loop = asyncio.get_running_loop()
            self._probe = loop.call_later(self._probe_interval, self._reopen, "probe")

    def resume(self) -> None:
        """Open now (e.g. the configuration was reloaded with a new token)."""
        self._reopen("resume")

    def succeeded(self) -> None:
        """A request went through: credentials are good, clear the alert."""
        if self._alert:
            self._alert = False
            self._paused_gauge.set(0)
            log.info("event=delivery_resumed reason=credentials_accepted destination=%s", self._destination)

    def close(self) -> None:
        """Cancel a pending probe (shutdown)."""
        if self._probe is not None:
            self._probe.cancel()
            self._probe = None

    def _reopen(self, why: str) -> None:
        self.close()
        if not self._open.is_set():
            log.info("event=delivery_reopened reason=%s destination=%s", why, self._destination)
            self._open.set()
