"""The real analytics.js (`@segment/analytics-next` from npm) in headless Chromium, on a page served from
another origin than the service, given only the write key and the service as `cdnURL`: the calls reach the
sandbox as the right Gleap requests."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from gleap_actions.sandbox import SandboxThread
from gleap_actions.service import Service

from .conftest import JS_DIR, WRITE_KEY, Serve, sample, wait_for

BATCHING = {
    "integrations": {
        "Segment.io": {"deliveryStrategy": {"strategy": "batching", "config": {"size": 10, "timeout": 300}}}
    }
}


def received(service: Service, call_type: str) -> float:
    return sample(service, "gleap_actions_ingest_events_received_total", {"type": call_type})


async def open_page(browser: Any, url: str) -> tuple[Any, list[Any]]:
    """A new page at `url`, and the list its requests are recorded into."""
    page = await browser.new_page()
    requests: list[Any] = []
    page.on("request", lambda request: requests.append(request))
    await page.goto(url)
    return page, requests


async def assert_gleap_received_the_calls(service: Service, sandbox: SandboxThread, page_url: str) -> None:
    """identify, track and page as Gleap requests; group and alias stored (no preset maps them)."""
    state = sandbox.state
    await wait_for(lambda: state.event_count("u-browser") == 2 and state.contact("u-browser") is not None)
    contact = state.contact("u-browser")
    assert contact["email"] == "ada@example.com" and contact["plan"] == "pro"
    assert (contact["companyId"], contact["companyName"]) == ("c1", "Acme")
    assert contact["lastPageView"]["page"] == page_url
    assert contact["lang"]  # the browser's locale, from context.locale
    # Two requests from the browser may reach Gleap in either order: pick each event by its name.
    by_name = {event["name"]: event for event in state.events("u-browser")}
    track, page_view = by_name["Order Completed"], by_name["pageView"]
    assert (track["name"], track["data"]) == ("Order Completed", {"total": 12.5, "currency": "EUR"})
    assert (page_view["name"], page_view["data"]) == ("pageView", {"page": page_url})
    for call_type in ("identify", "track", "page", "group", "alias"):
        assert received(service, call_type) == 1, call_type


@pytest.mark.parametrize("strategy", ["standard", "batching"])
async def test_analytics_next_from_npm(
    serve: Serve, sandbox: SandboxThread, page_origin: str, browser: Any, strategy: str
) -> None:
    service = await serve()
    page_url = f"{page_origin}/pages/npm.html"
    page, requests = await open_page(browser, page_url)
    options = BATCHING if strategy == "batching" else {}
    await page.evaluate(
        "([key, cdn, options]) => window.send(key, cdn, options)", [WRITE_KEY, service.url, options]
    )
    await assert_gleap_received_the_calls(service, sandbox, page_url)
    to_service = [
        (r.method, r.url.removeprefix(service.url)) for r in requests if r.url.startswith(service.url)
    ]
    assert to_service[0] == ("GET", f"/v1/projects/{WRITE_KEY}/settings")
    if strategy == "batching":
        assert {path for method, path in to_service[1:]} == {"/v1/b"}
    else:
        assert [path for _, path in to_service[1:]] == ["/v1/i", "/v1/t", "/v1/p", "/v1/g", "/v1/a"]
    post = next(r for r in requests if r.method == "POST")
    assert post.headers["content-type"] == "text/plain"
    assert orjson.loads(post.post_data)["writeKey"] == WRITE_KEY
    await page.close()


async def render_snippet(page_origin: str, service_url: str) -> str:
    """Segment's snippet (`@segment/snippet`), loading the npm package's build from the page's origin, with
    the service as the CDN (`analytics._cdn`), calls made before the library has loaded."""
    script = (
        "process.stdout.write(require('@segment/snippet').max("
        "{apiKey: process.argv[1], host: process.argv[2], ajsPath: '/analytics-next/standalone.js',"
        " load: false, page: false}))"
    )
    node = await asyncio.create_subprocess_exec(
        "node",
        "-e",
        script,
        WRITE_KEY,
        page_origin.removeprefix("http://"),
        cwd=JS_DIR,
        stdout=asyncio.subprocess.PIPE,
    )
    snippet, _ = await node.communicate()
    assert node.returncode == 0
    # The snippet always loads over https; the test's origins are plain http on 127.0.0.1.
    return snippet.decode().replace('"https://', '"http://')


async def test_analytics_js_snippet(
    serve: Serve, sandbox: SandboxThread, page_origin: str, browser: Any, tmp_path: Path
) -> None:
    service = await serve()
    snippet = await render_snippet(page_origin, service.url)
    calls = f"""
      analytics._cdn = {orjson.dumps(service.url).decode()};
      analytics.identify("u-browser",
        {{email: "ada@example.com", plan: "pro", company: {{id: "c1", name: "Acme"}}}});
      analytics.track("Order Completed", {{total: 12.5, currency: "EUR"}});
      analytics.page("Docs", "Home");
      analytics.group("g1", {{name: "Acme"}});
      analytics.alias("u-browser", "anon-browser");
      analytics.load({orjson.dumps(WRITE_KEY).decode()});
    """
    html = f"<!doctype html><html><head><title>Docs</title><script>{snippet}{calls}</script></head></html>"
    (tmp_path / "pages" / "snippet.html").write_text(html)
    page_url = f"{page_origin}/generated/snippet.html"
    page, requests = await open_page(browser, page_url)
    await assert_gleap_received_the_calls(service, sandbox, page_url)
    assert any(r.url == f"{page_origin}/analytics-next/standalone.js" for r in requests)
    await page.close()


async def test_rate_limited_calls_are_retried_after_retry_after(
    serve: Serve, sandbox: SandboxThread, page_origin: str, browser: Any
) -> None:
    service = await serve(rate_limit={"events_per_second": 1, "burst": 2})
    page, requests = await open_page(browser, f"{page_origin}/pages/npm.html")
    await page.evaluate(
        """async ([key, cdn]) => {
             const [analytics] = await AnalyticsNext.AnalyticsBrowser.load({writeKey: key, cdnURL: cdn});
             for (const n of [1, 2, 3, 4]) analytics.track("Step " + n, {n}, {userId: "u-limited"});
             analytics.identify("u-limited");
           }""",
        [WRITE_KEY, service.url],
    )
    state = sandbox.state
    await wait_for(lambda: state.event_count("u-limited") == 4, timeout=30)
    assert sorted(event["data"]["n"] for event in state.events("u-limited")) == [1, 2, 3, 4]
    assert sample(service, "gleap_actions_ingest_events_rejected_total", {"reason": "rate_limited"}) >= 1
    assert any("x-retry-count" in r.headers for r in requests if r.method == "POST")
    assert received(service, "track") == 4  # each kept once
    await page.close()


async def test_beacons_and_page_unload(
    serve: Serve, sandbox: SandboxThread, page_origin: str, browser: Any
) -> None:
    service = await serve()
    page, _ = await open_page(browser, f"{page_origin}/pages/npm.html")
    beacon = {"writeKey": WRITE_KEY, "userId": "u-beacon", "event": "Left", "messageId": "beacon-1"}
    big = {**beacon, "messageId": "beacon-2", "properties": {"blob": "x" * 40_000}}
    sent = await page.evaluate(
        """([url, beacon, big]) => [
             navigator.sendBeacon(url, JSON.stringify(beacon)),
             navigator.sendBeacon(url, JSON.stringify(beacon)),  // a retry: same messageId
             navigator.sendBeacon(url, JSON.stringify(big)),     // under the browser's 64 KB, over 32 KB
           ]""",
        [f"{service.url}/v1/t", beacon, big],
    )
    assert sent == [True, True, True]
    rejected = {"reason": "event_too_large"}
    await wait_for(lambda: sample(service, "gleap_actions_ingest_events_rejected_total", rejected) == 1)
    await wait_for(lambda: sample(service, "gleap_actions_ingest_events_duplicate_total") == 1)
    assert received(service, "track") == 1

    # Batching with a long timeout: the buffered call is sent with keepalive when the page goes away.
    long_wait = {
        "integrations": {
            "Segment.io": {
                "deliveryStrategy": {"strategy": "batching", "config": {"size": 100, "timeout": 600_000}}
            }
        }
    }
    await page.evaluate(
        """async ([key, cdn, options]) => {
             const [analytics] = await AnalyticsNext.AnalyticsBrowser.load(
               {writeKey: key, cdnURL: cdn}, options);
             analytics.track("Unloading", {}, {userId: "u-unload"});
             await new Promise((resolve) => setTimeout(resolve, 300));
           }""",
        [WRITE_KEY, service.url, long_wait],
    )
    assert sandbox.state.event_count("u-unload") == 0
    await page.goto("about:blank")
    await wait_for(lambda: sandbox.state.event_count("u-unload") == 1)
    await page.close()
