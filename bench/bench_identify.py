"""Identify coalescing under Gleap's request limit: identify requests per 1,000 events and time to drain,
coalescing on (the default) against one request per identify (coalescing off: Segment's behaviour), in
the same run.

The trace is what analytics.js apps send: every page view is a `page` call followed by an `identify` of the
same user (traits that change as they go: plan, step, the page they are on), for --users users and
--rounds page views each, posted round after round to a real `gleap-actions serve` (its own process,
SQLite queue, the default mappings). The sandbox (in this process) enforces a request limit per endpoint
as Gleap does (--limit requests a minute for identify and, apart, for track; serve is configured with
the same figure), so identifies queue up and wait together, as they do against Gleap. Two scenarios:

- live: the trace is posted while Gleap answers;
- backlog: the trace is posted during an outage (503), which ends once everything is queued.

Reported per scenario and mode: Gleap identify requests (answered 200) per 1,000 events, identify
attempts including those refused with 429, the seconds from the first event posted to every contact
holding its latest identify and every page view received (drain), and whether both modes end with the
same contacts. Gleap documents 1,000 requests a minute; --limit defaults to 6,000 so a run takes about
two minutes (the request counts do not depend on it; the drain times scale with it).

    .venv/bin/python bench/bench_identify.py [--users 1000] [--rounds 10] [--limit 6000]

Prints a table and writes bench/results/identify.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import urllib3

from gleap_actions.sandbox import Faults, Outage, SandboxThread
from harness import TOKEN, WRITE_KEY, ServeProcess

RESULTS = Path(__file__).parent / "results" / "identify.json"
TARGET_RATIO = 5.0  # at least 5x fewer identify requests with coalescing
T0 = time.time() - 86400  # the trace happened yesterday, a page view every 10 s per user
HTTP = urllib3.PoolManager(retries=False, timeout=30.0)


def at(seconds: float) -> str:
    return datetime.fromtimestamp(T0 + seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def page_view(user: int, round_: int) -> list[dict[str, Any]]:
    """One page view of analytics.js: the page call, then the identify it makes."""
    url = f"https://app.example/page-{round_}"
    context = {"page": {"url": url}, "locale": "en-GB"}
    traits: dict[str, Any] = {"plan": f"p{round_}", "step": round_}
    if round_ == 0:
        traits["email"] = f"user-{user}@example.com"
    return [
        {"type": "page", "userId": f"user-{user}", "name": f"Page {round_}", "context": context,
         "timestamp": at(10 * round_), "messageId": f"page-{user}-{round_}"},
        {"type": "identify", "userId": f"user-{user}", "traits": traits, "context": context,
         "timestamp": at(10 * round_ + 0.001), "messageId": f"identify-{user}-{round_}"},
    ]  # fmt: skip


def post_trace(url: str, users: int, rounds: int) -> None:
    """Every user's page views, round after round, 100 events a request."""
    calls = [call for r in range(rounds) for u in range(users) for call in page_view(u, r)]
    headers = urllib3.make_headers(basic_auth=f"{WRITE_KEY}:")
    for start in range(0, len(calls), 100):
        response = HTTP.request(
            "POST", url + "/v1/batch", json={"batch": calls[start : start + 100]}, headers=headers
        )
        assert response.status == 200, response.data


def drained(box: SandboxThread, users: int, rounds: int) -> bool:
    """Every contact holds its latest identify and every page view was received."""
    contacts = box.state.contacts()
    last = rounds - 1
    if box.state.event_count() < users * rounds or len(contacts) < users:
        return False
    return all(contacts.get(f"user-{u}", {}).get("step") == last for u in range(users))


def run(box: SandboxThread, scenario: str, coalesce: bool, args: argparse.Namespace) -> dict[str, Any]:
    """One scenario in one mode: post the trace, wait for the drain, count the identify requests."""
    box.state.reset()
    box.set_faults(Faults(rate_limit=args.limit))
    mappings = [
        {"name": "Track Event", "action": "trackEvent"},
        {"name": "Identify Contact", "action": "identifyContact", "coalesce": coalesce},
    ]
    delivery = {"requests_per_minute": args.limit, "initial_backoff": 0.2, "max_backoff": 2.0}
    with ServeProcess(box.url, sections={"mappings": mappings}, **delivery) as serve:
        if scenario == "backlog":
            box.set_faults(outage=Outage(duration=86400.0))
        started = time.monotonic()
        post_trace(serve.url, args.users, args.rounds)
        if scenario == "backlog":
            time.sleep(1.0)
            box.set_faults(outage=None)
        deadline = started + args.timeout
        while not drained(box, args.users, args.rounds):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{scenario} (coalesce={coalesce}) did not drain in {args.timeout:.0f} s")
            time.sleep(0.1)
        seconds = time.monotonic() - started
    events = 2 * args.users * args.rounds
    by_status: dict[str, int] = {}
    for request in box.state.requests(endpoint="identify"):
        by_status[str(request.status)] = by_status.get(str(request.status), 0) + 1
    accepted = sum(box.state.identify_counts().values())
    return {
        "scenario": scenario,
        "coalesce": coalesce,
        "events": events,
        "identify_requests": accepted,
        "identify_requests_per_1000_events": round(1000 * accepted / events, 1),
        "identify_attempts": box.state.request_count("identify"),
        "identify_answers": by_status,
        "track_requests": box.state.request_count("track"),
        "drain_s": round(seconds, 2),
        "contacts": box.state.contacts(),
    }


def main() -> None:
    """Both scenarios, each with coalescing on and off; print and write the results."""
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=1000, help="users in the trace")
    parser.add_argument("--rounds", type=int, default=10, help="page views (page + identify) per user")
    parser.add_argument(
        "--limit", type=int, default=6000, help="requests a minute per endpoint (Gleap: 1000)"
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="most seconds a drain may take")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON results")
    args = parser.parse_args()

    runs: list[dict[str, Any]] = []
    # The sandbox keeps every request of a run (the counts above read its log).
    with SandboxThread(api_token=TOKEN, request_log_size=10 * args.users * args.rounds) as box:
        for scenario in ("live", "backlog"):
            for coalesce in (False, True):
                runs.append(run(box, scenario, coalesce, args))
    print(
        f"{'scenario':<9}{'coalesce':>9}{'identify req':>14}{'per 1k ev':>11}{'attempts':>10}{'drain s':>9}"
    )
    summary: dict[str, Any] = {}
    for scenario in ("live", "backlog"):
        off, on = (r for r in runs if r["scenario"] == scenario)
        for r in (off, on):
            print(
                f"{scenario:<9}{'on' if r['coalesce'] else 'off':>9}{r['identify_requests']:>14}"
                f"{r['identify_requests_per_1000_events']:>11}{r['identify_attempts']:>10}{r['drain_s']:>9}"
            )
        ratio = off["identify_requests"] / max(1, on["identify_requests"])
        same = off["contacts"] == on["contacts"]
        summary[scenario] = {
            "fewer_identify_requests_x": round(ratio, 1),
            "drain_speedup_x": round(off["drain_s"] / on["drain_s"], 2),
            "same_contacts": same,
            "target_met": ratio >= TARGET_RATIO and same,
        }
        print(f"{scenario}: {ratio:.1f}x fewer identify requests, same contacts: {same}")
    for r in runs:
        del r["contacts"]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "settings": {"users": args.users, "rounds": args.rounds, "limit_per_minute": args.limit},
        "runs": runs,
        "summary": summary,
    }
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
