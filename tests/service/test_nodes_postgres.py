"""Several nodes as real processes on one PostgreSQL store: 2 ingest-only and 3 delivery-only, one delivery
node killed (SIGKILL) mid-run; every event reaches the sandbox exactly once."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import urllib3
import yaml

from gleap_actions.sandbox import Faults, Outage, SandboxThread

from .conftest import TOKEN, WRITE_KEY, write_config

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

HTTP = urllib3.PoolManager(retries=False, timeout=10.0)

# A node: the service in one role, with a 2 s lease so a dead node's work comes back quickly. Prints its URL.
NODE = textwrap.dedent(
    """
    import asyncio, signal, sys
    from gleap_actions.config import load_config
    from gleap_actions.service import Service

    async def main() -> None:
        service = Service(load_config(sys.argv[1]), role=sys.argv[2], lease=2.0)
        await service.start()
        print(service.url, flush=True)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await service.stop(timeout=5)

    asyncio.run(main())
    """
)


StartNode = Callable[[Path, str], tuple["subprocess.Popen[str]", str]]


@pytest.fixture
def start_node() -> Iterator[StartNode]:
    nodes: list[subprocess.Popen[str]] = []

    def start(config: Path, role: str) -> tuple[subprocess.Popen[str], str]:
        node = subprocess.Popen(
            [sys.executable, "-c", NODE, str(config), role], stdout=subprocess.PIPE, text=True
        )
        nodes.append(node)
        assert node.stdout is not None
        return node, node.stdout.readline().strip()

    yield start
    for node in nodes:
        if node.poll() is None:
            node.send_signal(signal.SIGTERM)
    for node in nodes:
        node.wait(30)


def post_batch(url: str, first: int, size: int) -> None:
    batch = [
        {
            "type": "track",
            "userId": f"u{n % 7}",
            "event": "Step",
            "properties": {"n": n},
            "messageId": f"m-{n}",
        }
        for n in range(first, first + size)
    ]
    headers = urllib3.make_headers(basic_auth=f"{WRITE_KEY}:")
    response = HTTP.request("POST", url + "/v1/batch", json={"batch": batch}, headers=headers)
    assert response.status == 200, response.data


def delivered(node_url: str) -> float:
    """The events a node has delivered, from its /metrics."""
    text = HTTP.request("GET", node_url + "/metrics").data.decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("gleap_actions_delivered")
    )


def test_two_ingest_and_three_delivery_nodes_one_killed(
    tmp_path: Path, postgres_url: str, start_node: StartNode
) -> None:
    with SandboxThread(api_token=TOKEN, faults=Faults(rate_limit=None)) as sandbox:
        config = write_config(tmp_path, sandbox.url, requests_per_minute=60000)
        document = yaml.safe_load(config.read_text())
        document["storage"]["url"] = postgres_url
        config.write_text(yaml.safe_dump(document))
        ingest = [start_node(config, "ingest")[1] for _ in range(2)]
        delivery = [start_node(config, "deliver") for _ in range(3)]
        victim, victim_url = delivery[0]

        total, size = 2000, 50
        # At least half the load, alternating the ingest nodes, paced so that every delivery node gets
        # work, and on until the victim has delivered some (whichever node polls first claims a batch).
        sent = 0
        deadline = time.monotonic() + 30
        while sent < total // 2 or delivered(victim_url) == 0:
            assert sent < total and time.monotonic() < deadline, "the victim never took part"
            post_batch(ingest[sent // size % 2], sent, size)
            sent += size
            time.sleep(0.05)
        # The victim dies while Gleap answers 503, after the requests in flight got their answer: none of
        # its requests succeeded without being acknowledged, so exactly once holds. (Killed right between
        # Gleap's 200 and its acknowledgement, a node makes that one request be sent again: at least once.)
        sandbox.set_faults(Faults(rate_limit=None, outage=Outage(duration=1.5)))
        time.sleep(0.5)
        victim.kill()
        victim.wait()
        for first in range(sent, total, size):  # the rest of the load, while the outage ends
            post_batch(ingest[first // size % 2], first, size)

        deadline = time.monotonic() + 60
        while sandbox.state.event_count() < total and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # anything sent twice would arrive by now
        received = sorted(event["data"]["n"] for event in sandbox.state.events())
        assert received == list(range(total))
        assert sandbox.state.duplicate_count() == 0
