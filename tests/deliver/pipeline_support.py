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
    """The sum of the samples of the pipeline's registry with these labels, among others (0 when absent)."""
    return sum(
        sample.value
        for family in p.metrics.registry.collect()
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )
