"""The real `@segment/analytics-node` (from npm, run by node), its `host` option pointed at the service."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gleap_actions.sandbox import SandboxThread

from .conftest import JS_DIR, WRITE_KEY, Serve, sample, wait_for


async def run_node(*args: str) -> tuple[int, str]:
    node = await asyncio.create_subprocess_exec(
        "node", str(JS_DIR / "send-node.cjs"), *args, cwd=JS_DIR, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(node.communicate(), 60)
    assert node.returncode is not None
    return node.returncode, stderr.decode()


async def test_analytics_node_with_host(serve: Serve, sandbox: SandboxThread, node_modules: Path) -> None:
    service = await serve()
    code, stderr = await run_node(service.url, WRITE_KEY)
    assert (code, stderr) == (0, "")
    state = sandbox.state
    await wait_for(lambda: state.event_count("u-node") == 3 and state.contact("u-node") is not None)
    contact = state.contact("u-node")
    assert contact is not None and (contact["email"], contact["plan"]) == ("grace@example.com", "team")
    # Sorted: the library stamps calls made within one millisecond alike, and a user's events of equal
    # timestamps are delivered in messageId order, not in call order.
    names = sorted((event["name"], event["data"].get("page", "")) for event in state.events("u-node"))
    assert names == [
        ("Report Exported", ""),  # once: the second has the same messageId
        ("pageView", "Billing"),  # no context.page.url server-side: the mapping takes the name
        ("pageView", "Settings"),
    ]
    assert [e["data"] for e in state.events("u-node") if e["name"] == "Report Exported"] == [{"rows": 42}]
    received = "gleap_actions_ingest_events_received_total"
    for call_type in ("identify", "track", "page", "screen", "group", "alias"):
        assert sample(service, received, {"type": call_type}) == 1, call_type
    assert sample(service, "gleap_actions_ingest_requests_total", {"endpoint": "batch", "status": "200"}) >= 1


async def test_analytics_node_with_an_unknown_write_key_reports_the_error(
    serve: Serve, node_modules: Path
) -> None:
    service = await serve()
    code, stderr = await run_node(service.url, "not-a-configured-key")
    assert code == 1 and "401" in stderr
