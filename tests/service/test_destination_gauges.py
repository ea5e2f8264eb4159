"""The queue gauges per destination in /metrics and /admin/stats: a destination whose token is refused
keeps its events waiting (and ageing) while the other's queue drains."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import yaml
from prometheus_client.parser import text_string_to_metric_families

from gleap_actions.config import load_config
from gleap_actions.sandbox import SandboxThread
from gleap_actions.service import Service

from .conftest import ADMIN_TOKEN, TOKEN, admin, post, wait_for


async def _gauges(url: str) -> dict[tuple[str, str], float]:
    """(metric sample name, destination/state labels) -> value of the per-destination queue gauges."""
    async with aiohttp.ClientSession() as session, session.get(url + "/metrics") as r:
        text = await r.text()
    return {
        (s.name, "/".join(s.labels[k] for k in ("destination", "state") if k in s.labels)): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name in ("gleap_actions_destination_queue", "gleap_actions_destination_oldest_seconds")
    }


async def test_queue_gauges_per_destination(sandbox: SandboxThread, tmp_path: Path) -> None:
    document = {
        "server": {"host": "127.0.0.1", "port": 0, "admin_token": ADMIN_TOKEN},
        "storage": {"data_dir": str(tmp_path / "data")},
        "delivery": {"linger": 0.05},
        "sources": [{"name": "web", "write_keys": ["wk-web"]}],
        "destinations": [
            {"name": "up", "gleap": {"api_token": TOKEN, "base_url": sandbox.url}},
            {"name": "refused", "gleap": {"api_token": "not-the-token", "base_url": sandbox.url}},
        ],
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(document))
    service = Service(load_config(path))
    await service.start()
    try:
        batch = {"batch": [{"type": "track", "userId": f"u{i}", "event": "E"} for i in range(3)]}
        assert (await post(service.url, "/v1/batch", batch, key="wk-web"))[0] == 200
        await wait_for(lambda: sandbox.state.event_count() == 3)
        queue = "gleap_actions_destination_queue"
        oldest = "gleap_actions_destination_oldest_seconds"
        gauges: dict[tuple[str, str], float] = {}

        deadline = time.monotonic() + 30
        while not (gauges.get((queue, "refused/pending")) == 3 and gauges.get((oldest, "refused"), 0) > 0):
            assert time.monotonic() < deadline, f"the refused destination's gauges did not show: {gauges}"
            await asyncio.sleep(0.1)
            gauges = await _gauges(service.url)
        assert gauges[queue, "up/pending"] == 0 and gauges[queue, "up/in_flight"] == 0
        assert gauges[oldest, "up"] == 0
        status, stats = await admin(service.url, "GET", "/admin/stats")
        assert status == 200
        assert stats["destination_queues"]["refused"]["pending"] == 3
        assert stats["destination_queues"]["up"] == {
            "pending": 0,
            "in_flight": 0,
            "dead_letters": 0,
            "oldest_age": 0.0,
        }
    finally:
        await service.stop(timeout=2)
