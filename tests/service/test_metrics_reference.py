"""docs/metrics.md against the code: the ingest, audience and HTTP connection metrics against their tables,
and a running service's /metrics against all the tables (the delivery table is checked in detail by
tests/deliver/test_metrics_reference.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from gleap_actions.compute.metrics import ComputeMetrics
from gleap_actions.ingest.metrics import IngestMetrics
from gleap_actions.sandbox import SandboxThread
from gleap_actions.service import Service
from gleap_actions.service.http import ConnectionMetrics
from metrics_doc import documented, documented_buckets, metric_objects, shown

StartService = Callable[..., Awaitable[Service]]
SECTIONS = ("Ingest", "Delivery", "Audiences and computed traits", "HTTP connections")


@pytest.mark.parametrize(
    ("section", "build"),
    [
        ("Ingest", IngestMetrics),
        ("Audiences and computed traits", ComputeMetrics),
        ("HTTP connections", ConnectionMetrics),
    ],
)
def test_area_metrics_are_the_documented_ones(
    section: str, build: Callable[[CollectorRegistry], object]
) -> None:
    """Each area's metrics are exactly its table's, with the same type, label names in order and help
    text, and its histograms have the listed buckets."""
    doc = documented(section)
    registry = CollectorRegistry()
    rows, buckets = shown(registry, metric_objects(build(registry)), doc)
    assert rows == doc
    assert buckets == {name: bounds for name, bounds in documented_buckets().items() if name in doc}


async def test_metrics_endpoint_shows_the_documented_metrics_and_no_other(
    sandbox: SandboxThread, start_service: StartService
) -> None:
    """A service delivering with an audience shows on /metrics every documented metric with its type and
    help text, and nothing the doc does not list."""
    audience = {"audiences": [{"name": "Buyers", "definition": "event('Order Completed').count() >= 1"}]}
    service = await start_service(sandbox.url, sections=audience)
    async with aiohttp.ClientSession() as session, session.get(service.url + "/metrics") as response:
        text = await response.text()
    exposed = {
        family.name + ("_total" if family.type == "counter" else ""): (family.type, family.documentation)
        for family in text_string_to_metric_families(text)
    }
    doc = {name: (row.type, row.help) for section in SECTIONS for name, row in documented(section).items()}
    assert exposed == doc
