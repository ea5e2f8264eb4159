"""What the in-process pipeline tests share: fast delivery settings and reading metrics."""

from __future__ import annotations

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
