"""Evaluating 20 audience and computed-trait definitions per profile, against parsing the same events.

    .venv/bin/python bench/bench_audiences.py [--profiles 2000] [--events 50] [--output F]

Generated profiles (track, page and identify calls over 60 days). Measures, in profiles per second: reading
a profile (`Profile`: timestamps parsed, events sorted and indexed), evaluating the 20 definitions over a
profile read once, and `next_change` of all 20. Baseline in the same run: `orjson` loads + dumps of the
same events. Writes bench/results/audiences.json.
"""

from __future__ import annotations

import argparse
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from gleap_actions.audiences import Profile, compile_definition
from timing import best_rate

RESULTS = Path(__file__).parent / "results" / "audiences.json"
NOW = datetime(2024, 6, 1, tzinfo=UTC)
NAMES = ["Order Completed", "Product Added", "Signed In", "Shoes Bought", "Shoes Returned"]
AUDIENCES = [
    "event('Order Completed').within(7 days).count() >= 1",
    "event('Order Completed').within(30 days).count() >= 3",
    "event('Shoes Bought').where(property('total') >= 100).within(7 days).count() >= 1",
    "event('Shoes Bought').where(property('total') >= trait('avg_spend') AND "
    "event('Shoes Returned').within(parent: 5 days).count() >= 1).within(30 days).count() >= 1",
    "event('Product Added').where(NOT event('Order Completed').within(parent: 1 day).count() >= 1)"
    ".within(14 days).count() >= 1",
    "trait('plan') = 'pro' AND NOT event('Signed In').within(14 days).count() >= 1",
    "event('Page Viewed').where(property('page_name') = 'Pricing').between(7 days, 30 days).count() >= 2",
    "trait('trial_ends_at').within_next(3 days)",
    "trait('email').ends_with('@example.com') OR trait('plan').one_of('team', 'enterprise')",
    "event('Signed In').within(1 day).count() >= 1 AND event('Order Completed').count() = 0",
    "event('Order Completed').within(30 days).sum(property('total')) > 500",
    "event('Page Viewed').within(7 days).unique(property('page_name')).count() >= 3",
]
TRAITS = [
    "event('Order Completed').within(30 days).sum(property('total'))",
    "event('Order Completed').avg(property('total'))",
    "event('Shoes Bought').within(30 days).max(property('total'))",
    "event('Page Viewed').within(30 days).mode(property('page_name'), 2)",
    "event('Order Completed').last(property('category'))",
    "event('Product Added').unique(property('category'))",
    "event('Page Viewed').expires_after(30 minutes).count()",
    "event('Signed In').within(90 days).count()",
]


def profile_events(rng: random.Random, user: int, count: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for _ in range(count):
        at = NOW - timedelta(minutes=rng.randrange(60 * 24 * 60))
        stamp = at.isoformat().replace("+00:00", "Z")
        kind = rng.random()
        if kind < 0.1:
            traits = {"plan": rng.choice(["free", "pro", "team"]), "avg_spend": rng.randrange(200)}
            traits["trial_ends_at"] = (NOW + timedelta(days=rng.randrange(-5, 10))).isoformat()
            events.append({"type": "identify", "userId": f"u{user}", "timestamp": stamp, "traits": traits})
        elif kind < 0.4:
            page = rng.choice(["Home", "Pricing", "Docs", "Blog"])
            events.append({"type": "page", "name": page, "userId": f"u{user}", "timestamp": stamp})
        else:
            properties = {"total": rng.randrange(300), "category": rng.choice(["a", "b", "c"])}
            event = {"type": "track", "event": rng.choice(NAMES), "userId": f"u{user}", "timestamp": stamp}
            events.append({**event, "properties": properties})
    return events


def main() -> None:
    """Runs the measurements, prints them and writes the results."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--profiles", type=int, default=2000)
    parser.add_argument("--events", type=int, default=50, help="events per profile")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    rng = random.Random(16)
    definitions = [compile_definition(t) for t in AUDIENCES]
    definitions += [compile_definition(t, kind="computed_trait") for t in TRAITS]
    profiles = [profile_events(rng, user, args.events) for user in range(args.profiles)]
    read = [Profile(events) for events in profiles]

    def baseline() -> None:
        for events in profiles:
            orjson.loads(orjson.dumps(events))

    def reading() -> None:
        for events in profiles:
            Profile(events)

    def evaluating() -> None:
        for profile in read:
            for definition in definitions:
                definition.evaluate(profile, NOW)

    def next_changes() -> None:
        for profile in read:
            for definition in definitions:
                definition.next_change(profile, NOW)

    count = args.profiles
    rates = {
        "baseline_orjson": best_rate(baseline, count, args.repeat),
        "read_profile": best_rate(reading, count, args.repeat),
        "evaluate_20": best_rate(evaluating, count, args.repeat),
        "next_change_20": best_rate(next_changes, count, args.repeat),
    }
    members = sum(bool(d.evaluate(p, NOW)) for p in read for d in definitions[: len(AUDIENCES)])
    print(
        f"{args.profiles} profiles of {args.events} events, {len(definitions)} definitions, "
        f"{members} memberships"
    )
    print(f"{'measure':<16} {'profiles/s':>12} {'x baseline':>11}")
    for name, rate in rates.items():
        print(f"{name:<16} {rate:>12,.0f} {rate / rates['baseline_orjson']:>10.2f}x")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps({"profiles": args.profiles, "events": args.events, "rates": rates}, indent=2)
    )


if __name__ == "__main__":
    main()
