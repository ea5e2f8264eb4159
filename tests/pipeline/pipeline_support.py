"""What the in-process pipeline tests share: fast delivery settings and reading metrics."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from gleap_actions.config import DeliveryConfig
from gleap_actions.deliver.pipeline import Pipeline


def fast(**changes: Any) -> DeliveryConfig:
    """Delivery settings with short backoffs so retries happen within a test."""
    base = {"max_concurrency": 4, "requests_per_minute": 0, "linger": 0.05, "initial_backoff": 0.05}
    return DeliveryConfig(**{**base, "max_backoff": 0.2, "retry_window": 60.0, **changes})


def metric(p: Pipeline, name: str, **labels: str) -> float:
    """A sample of the pipeline's registry (0 when absent)."""
    return p.metrics.registry.get_sample_value(name, labels) or 0.0


def run_in_threads(*calls: Callable[[], object], timeout: float = 60.0) -> None:
    """Run each call in its own thread, all at once; fail when one raised or had not finished after
    `timeout` seconds (a thread stuck on a lock must fail the test, not leave it passing early)."""
    failures: list[BaseException] = []

    def guarded(call: Callable[[], object]) -> None:
        try:
            call()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=guarded, args=(call,), daemon=True) for call in calls]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = [thread.name for thread in threads if thread.is_alive()]
    assert not stuck, f"{len(stuck)} of {len(threads)} threads still running after {timeout:g} s"
    if failures:
        raise failures[0]
