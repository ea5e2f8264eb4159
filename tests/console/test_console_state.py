"""The console's own state: outcome rings sampled from real delivery metrics, the live ring's bounds and
filters, the paused-on-401 banner with its resume action, and picking a recent event for the tester."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import aiohttp
import yaml
from prometheus_client import CollectorRegistry

from console.conftest import ADMIN_TOKEN, Serve, csrf_of, http_sign_in, post, track, wait_for
from gleap_actions.config import load_config
from gleap_actions.console.activity import FILTERED, HOUR, Activity
from gleap_actions.console.live import LiveEvents
from gleap_actions.deliver.metrics import PipelineMetrics
from gleap_actions.deliver.record import Exchange
from gleap_actions.queue.store import NewEvent, Route
from gleap_actions.sandbox import SandboxThread
from gleap_actions.service import Service
from service.conftest import write_config


def test_activity_puts_each_increase_in_its_minute() -> None:
    registry = CollectorRegistry()
    metrics = PipelineMetrics(registry)
    activity = Activity(registry)
    start = 1_800_000_000.0 - 1_800_000_000.0 % 60
    metrics.delivered.labels("default", "A").inc(3)
    metrics.failed.labels("default", "A", "retryable").inc(2)
    activity.sample(start + 10)
    metrics.delivered.labels("default", "A").inc(4)
    metrics.dead_lettered.labels("default", "A", "final_http").inc(1)
    metrics.filtered.labels("no_matching_mapping").inc(5)
    series = activity.series(HOUR, ["A", "B"], start + 70)
    assert series.starts[-2:] == [start, start + 60]
    assert series.counts["A"]["delivered"][-2:] == [3, 4]
    assert series.counts["A"]["retrying"][-2:] == [2, 0]
    assert series.counts["A"]["dead_lettered"][-2:] == [0, 1]
    assert series.counts["B"]["delivered"] == [0] * HOUR.buckets
    assert series.counts[FILTERED]["filtered"][-1] == 5
    assert len(series.starts) == HOUR.buckets


def _event(i: int, user: str = "u") -> NewEvent:
    event = {"type": "track", "event": f"E{i % 2}", "userId": f"{user}{i % 3}", "messageId": f"m{i}"}
    return NewEvent.from_event(event, source="s", received_at=float(i), route=Route(("A",)))


def test_the_live_ring_keeps_the_newest_and_filters() -> None:
    ring = LiveEvents(size=10)
    events = [_event(i) for i in range(25)]
    ring.committed(events, [i != 24 for i in range(25)])  # the last one was a duplicate: not shown
    shown = ring.recent(limit=100)
    assert [e.message_id for e in shown] == [f"m{i}" for i in range(23, 13, -1)]
    assert {e.name for e in ring.recent(name="E1")} == {"E1"}
    assert {e.user_id for e in ring.recent(user_id="u2")} == {"u2"}
    assert ring.recent(type_="identify") == []
    ring.observe(Exchange("A", [{"messageId": "m20", "type": "track"}], "delivered", '{"r":1}', 200, "ok"))
    outcome = ring.find("m20")
    assert outcome is not None and outcome.outcomes["A"].status == 200
    # A delivery of an event that left the ring (a replay) brings it back.
    ring.observe(
        Exchange("A", [{"messageId": "m1", "type": "track", "userId": "x"}], "delivered", "", 200, "")
    )
    assert ring.recent(limit=1)[0].message_id == "m1"


async def test_paused_on_401_then_resumed_from_the_console(
    sandbox: SandboxThread, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    path = write_config(tmp_path, sandbox.url, token="wrong-token-1")
    service = Service(load_config(path))
    await service.start()
    try:
        assert (await post(service.url, "/v1/track", track("paused-user")))[0] == 200
        await http_sign_in(http, service.url)

        async def overview() -> str:
            async with http.get(service.url + "/console/overview") as r:
                return await r.text()

        text = ""
        for _ in range(200):
            text = await overview()
            if "Delivery is paused" in text:
                break
            await asyncio.sleep(0.05)
        assert "Delivery is paused" in text and "HTTP 401" in text
        assert "wrong-token-1" not in text and ADMIN_TOKEN not in text
        write_config(tmp_path, sandbox.url)  # the right token
        csrf = await csrf_of(http, service.url)
        async with http.post(service.url + "/console/resume", data={"csrf": csrf}) as r:
            assert r.status == 200 and "delivery resumed" in await r.text()
        await wait_for(lambda: len(sandbox.state.events()) == 1)
    finally:
        await service.stop(timeout=2)


async def test_a_recent_event_can_be_picked_for_the_tester(
    serve: Serve, sandbox: SandboxThread, http: aiohttp.ClientSession
) -> None:
    service = await serve()
    await post(service.url, "/v1/track", track("pick-user", "Picked"))
    await wait_for(lambda: len(sandbox.state.events()) == 1)
    await http_sign_in(http, service.url)
    async with http.get(service.url + "/console/mappings") as r:
        page = await r.text()
    found = re.search(r'<option value="(\d+)">track Picked \(pick-user\)</option>', page)
    assert found is not None
    async with http.get(service.url + f"/console/mappings?event={found.group(1)}") as r:
        page = await r.text()
    textarea = re.search(r'data-testid="tester-input">(.*?)</textarea>', page, re.S)
    assert textarea is not None and "&#34;event&#34;: &#34;Picked&#34;" in textarea.group(1)


async def test_problems_in_the_edited_file_show_under_their_mapping(
    serve: Serve, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    service = await serve()  # runs the two Segment presets (and the disabled normalised one)
    path = tmp_path / "gleap-actions.yaml"
    document = yaml.safe_load(path.read_text())
    document["mappings"] = [
        {"name": "Track Event", "action": "trackEvent", "trigger": 'type == "track"'},
        {"name": "Brand New", "action": "trackEvent", "trigger": "type = "},
    ]
    document["server"]["port"] = "not-a-port-SECRET-91"
    path.write_text(yaml.safe_dump(document))
    await http_sign_in(http, service.url)
    async with http.get(service.url + "/console/mappings") as r:
        page = await r.text()
    assert "has 3 problem(s) now" in page
    chunks = [c.split("</section>")[0] for c in page.split('<section class="mapping"')[1:]]
    sections = {m.group(1): c for c in chunks if (m := re.search(r'data-testid="mapping-([^"]+)"', c))}
    assert "mappings[0].trigger: expected &#39;=&#39;" in sections["Track Event"]
    assert '<ul class="problems"' not in sections["Identify Contact"]
    new = page[page.index("Brand New") :]
    assert "mappings[1].trigger" in new[: new.index("</section>")]  # under its name, not running yet
    assert "1 more outside these mappings" in page and "SECRET-91" not in page


async def test_the_tester_says_what_is_wrong_with_its_input(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    service = await serve()
    await http_sign_in(http, service.url)
    csrf = await csrf_of(http, service.url)
    lines = '{"type": "track", "event": "A", "userId": "u1"}\nnot json\n'
    async with http.post(service.url + "/console/mappings/test", data={"csrf": csrf, "event": lines}) as r:
        page = await r.text()
    output = page[page.index('data-testid="tester-output"') :]
    assert "Track Event: POST" in output  # the good line's request
    assert "invalid JSON" in output  # the bad line's error, the other line unaffected
