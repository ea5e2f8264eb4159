"""Two `gleap-actions serve` processes on one PostgreSQL queue share each Gleap endpoint's budget: together
they send identify and track at the configured rate each, not twice it (one budget per node) nor half of
it (one budget for both endpoints)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from gleap_actions.sandbox import SandboxThread

from .harness import Client, ServeProcess, free_port, wait_until, write_config

pytestmark = pytest.mark.postgres

PER_SECOND = 4  # the budget of each endpoint: 240 requests a minute
WINDOW = 8.0


def node(tmp_path: Path, name: str, sandbox: SandboxThread, postgres_url: str) -> ServeProcess:
    folder = tmp_path / name
    folder.mkdir()
    path = write_config(folder, sandbox.url, port=free_port(), requests_per_minute=60 * PER_SECOND)
    document = yaml.safe_load(path.read_text())
    document["storage"] = {"url": postgres_url}
    document["mappings"] = [  # one request per event on both endpoints
        {"name": "Identify", "action": "identifyContact"},
        {"name": "Track", "action": "trackEvent", "trigger": 'type = "track"', "batching": False},
    ]
    path.write_text(yaml.safe_dump(document))
    return ServeProcess(path, folder / "serve.log").start()


def test_two_nodes_share_each_endpoints_budget(
    sandbox: SandboxThread, postgres_url: str, tmp_path: Path
) -> None:
    nodes = [node(tmp_path, name, sandbox, postgres_url) for name in ("a", "b")]
    try:
        identifies = [{"type": "identify", "userId": f"u{i}", "traits": {"plan": "p"}} for i in range(200)]
        tracks = [{"type": "track", "userId": f"u{i}", "event": "E"} for i in range(200)]
        assert Client(nodes[0].url).post("/v1/batch", {"batch": identifies + tracks})[0] == 200
        start = time.time() + 2.0  # past the first burst
        wait_until(lambda: time.time() > start + WINDOW + 0.5, timeout=60, what="the window to pass")
        counts = {
            endpoint: sum(
                start <= r.time < start + WINDOW and r.status == 200
                for r in sandbox.state.requests(endpoint=endpoint)
            )
            for endpoint in ("identify", "track")
        }
        sent = [Client(n.url).metric("gleap_actions_requests_total") for n in nodes]
    finally:
        for n in nodes:
            n.stop()
    full = PER_SECOND * WINDOW
    assert all(0.7 * full <= n <= full + 6 for n in counts.values()), counts
    assert all(s > 0 for s in sent), sent  # both nodes delivered
