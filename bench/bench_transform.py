"""Transform throughput: trigger + mapping + field validation + request body, per event, for the presets.

The hot path of delivery (`Subscription.matches` + `Subscription.plan`) over a generated, realistic mix of
track/page/screen and identify calls, single-event and batched (100 per request). In the same run it
measures the baseline `orjson.loads` + `orjson.dumps` of the same events, so figures are read as ratios
(absolute numbers on shared 2-core machines are noisy). Segment's own implementation does about 8-9k
events/s single and 60-87k batched on this machine class. Prints a table and writes
bench/results/transform.json.

    .venv/bin/python bench/bench_transform.py [--events 20000] [--repeat 5] [--seed 1] [--output F]
"""

from __future__ import annotations

import argparse
import platform
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from gleap_actions.destinations.gleap.actions import ACTIONS
from gleap_actions.destinations.gleap.presets import PRESETS
from gleap_actions.destinations.gleap.settings import GleapSettings
from gleap_actions.engine.subscription import Subscription
from timing import best_rate

RESULTS = Path(__file__).parent / "results" / "transform.json"
SEGMENT_SINGLE = 8_500  # events/s, Segment's implementation on this machine class (measured)
SEGMENT_BATCH = 73_500
# 3x the high end of Segment's figures (9k single, 87k batched), per core.
TARGETS = {"track/page/screen, single": 27_000, "track/page/screen, batched 100": 261_000}


def _context(rng: random.Random) -> dict[str, Any]:
    return {
        "locale": rng.choice(["en-US", "de-AT", "fr-FR"]),
        "ip": "203.0.113.7",
        "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36",
        "library": {"name": "analytics.js", "version": "next-1.64.0"},
        "page": {"url": f"https://example.com/p/{rng.randrange(100)}", "title": "Pricing", "path": "/p"},
    }


def track_event(rng: random.Random, index: int) -> dict[str, Any]:
    """A track (70%), page (20%) or screen call as Segment's libraries send it."""
    kind = rng.choices(["track", "page", "screen"], [7, 2, 1])[0]
    event: dict[str, Any] = {
        "type": kind,
        "messageId": f"ajs-{index:08d}",
        "anonymousId": f"anon-{rng.randrange(10**9)}",
        "userId": f"user-{rng.randrange(10**6)}" if rng.random() < 0.95 else None,
        "timestamp": f"2024-01-02T03:04:{rng.randrange(60):02d}.{rng.randrange(1000):03d}Z",
        "context": _context(rng),
        "integrations": {},
        "properties": {
            "revenue": round(rng.random() * 100, 2),
            "currency": "EUR",
            "items": rng.randrange(10),
            **{f"p{k}": rng.choice([True, 3.5, "value", None]) for k in range(rng.choice([0, 3, 12]))},
        },
    }
    if kind == "track":
        event["event"] = rng.choice(["Order Completed", "Signed Up", "checkout.step$done"])
    else:
        event["name"] = rng.choice(["Home", "Pricing", "Settings"])
    return event


def identify_event(rng: random.Random, index: int) -> dict[str, Any]:
    """An identify call with a varied set of traits."""
    user = f"user-{rng.randrange(10**6)}"
    traits: dict[str, Any] = {"email": f"{user}@example.com", "name": f"User {index}"}
    if rng.random() < 0.7:
        traits["plan"] = rng.choice(["free", "pro", "enterprise"])
    if rng.random() < 0.5:
        traits["company"] = {"id": f"c-{rng.randrange(1000)}", "name": "Acme Inc", "employees": 250}
    for extra in range(rng.choice([0, 2, 5])):
        traits[f"custom_{extra}"] = rng.choice([True, 3.5, "value", None])
    return {
        "type": "identify",
        "messageId": f"ajs-{index:08d}",
        "userId": user if rng.random() < 0.95 else None,
        "timestamp": "2024-01-02T03:04:05.000Z",
        "traits": traits,
        "context": _context(rng),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON results")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    settings = GleapSettings(api_token="bench-token")
    subs = {
        p["name"]: Subscription.compile(p["name"], ACTIONS[p["action"]], p["trigger"], p["mapping"])
        for p in PRESETS
    }
    track, identify = subs["Track Event"], subs["Identify Contact"]
    track_raw = [orjson.dumps(track_event(rng, i)) for i in range(args.events)]
    identify_raw = [orjson.dumps(identify_event(rng, i)) for i in range(args.events)]
    track_events = [orjson.loads(line) for line in track_raw]
    identify_events = [orjson.loads(line) for line in identify_raw]
    count = args.events

    def baseline() -> None:
        for line in track_raw:
            orjson.dumps(orjson.loads(line))

    def single(sub: Subscription, events: list[dict[str, Any]]) -> Callable[[], None]:
        def run() -> None:
            for event in events:
                if sub.matches(event):
                    sub.plan([event], settings, batch=False)

        return run

    def batched() -> None:
        for start in range(0, count, 100):
            chunk = [event for event in track_events[start : start + 100] if track.matches(event)]
            track.plan(chunk, settings, batch=True)

    rates = {
        "orjson loads+dumps (baseline)": best_rate(baseline, count, args.repeat),
        "track/page/screen, single": best_rate(single(track, track_events), count, args.repeat),
        "track/page/screen, batched 100": best_rate(batched, count, args.repeat),
        "identify, single": best_rate(single(identify, identify_events), count, args.repeat),
    }
    base = rates["orjson loads+dumps (baseline)"]
    segment = {
        "track/page/screen, single": SEGMENT_SINGLE,
        "track/page/screen, batched 100": SEGMENT_BATCH,
        "identify, single": SEGMENT_SINGLE,
    }

    print(f"Transform (trigger + mapping + validation + body), {count} events, best of {args.repeat}")
    print(f"{'measure':<32} {'events/s':>12} {'vs baseline':>12} {'vs Segment':>11} {'target':>15}")
    for name, rate in rates.items():
        versus = f"{rate / segment[name]:.1f}x" if name in segment else ""
        target = (
            f">= {TARGETS[name]:,} {'ok' if rate >= TARGETS[name] else 'MISS'}" if name in TARGETS else ""
        )
        print(f"{name:<32} {rate:>12,.0f} {rate / base:>11.2f}x {versus:>11} {target:>15}")

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        orjson.dumps(
            {
                "benchmark": "transform",
                "events": count,
                "repeat": args.repeat,
                "seed": args.seed,
                "python": platform.python_version(),
                "machine": platform.machine(),
                "events_per_second": {name: round(rate) for name, rate in rates.items()},
                "ratio_to_baseline": {name: round(rate / base, 3) for name, rate in rates.items()},
                "ratio_to_segment": {name: round(rates[name] / value, 2) for name, value in segment.items()},
                "targets": TARGETS,
            },
            option=orjson.OPT_INDENT_2,
        ).decode()
        + "\n"
    )
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
