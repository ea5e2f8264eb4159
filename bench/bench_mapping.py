"""Mapping throughput: Segment's Gleap "Identify Contact" preset mapping, compiled, per event.

Runs over a generated, realistic mix of identify calls and, in the same run, measures the baseline
`orjson.loads` + `orjson.dumps` of the same events, so the figure is read as a ratio (absolute
numbers on shared 2-core machines are noisy). Prints a table and writes bench/results/mapping.json.

    .venv/bin/python bench/bench_mapping.py [--events 20000] [--repeat 5] [--seed 1] [--output F]
"""

from __future__ import annotations

import argparse
import platform
import random
from pathlib import Path
from typing import Any

import orjson

from gleap_actions import fql
from gleap_actions.destinations.gleap.actions import IDENTIFY_CONTACT
from gleap_actions.mapping import compile_mapping
from timing import best_rate

# Segment's default mapping of identifyContact (reference section 6.3)
IDENTIFY_PRESET = IDENTIFY_CONTACT.default_mapping

RESULTS = Path(__file__).parent / "results" / "mapping.json"


def identify_event(rng: random.Random, index: int) -> dict[str, Any]:
    """One identify call as analytics.js / analytics-python send it, with a varied set of traits."""
    user = f"user-{rng.randrange(10**6)}"
    traits: dict[str, Any] = {"email": f"{user}@example.com", "name": f"User {index}"}
    if rng.random() < 0.7:
        traits["plan"] = rng.choice(["free", "pro", "enterprise"])
    if rng.random() < 0.5:
        traits["company"] = {
            "id": f"c-{rng.randrange(1000)}",
            "name": "Acme Inc",
            "employees": rng.randrange(5000),
        }
    if rng.random() < 0.3:
        traits["phone"] = f"+4366{rng.randrange(10**8):08d}"
    for extra in range(rng.choice([0, 2, 5, 12])):
        traits[f"custom_{extra}"] = rng.choice([True, 3.5, "value", None, ["a", "b"]])
    event: dict[str, Any] = {
        "type": "identify",
        "messageId": f"ajs-{index:08d}",
        "anonymousId": f"anon-{rng.randrange(10**9)}",
        "userId": user if rng.random() < 0.95 else None,
        "timestamp": "2024-01-02T03:04:05.000Z",
        "sentAt": "2024-01-02T03:04:05.100Z",
        "receivedAt": "2024-01-02T03:04:05.200Z",
        "traits": traits,
        "context": {
            "locale": rng.choice(["en-US", "de-AT", "fr-FR"]),
            "ip": "203.0.113.7",
            "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36",
            "library": {"name": "analytics.js", "version": "next-1.64.0"},
        },
        "integrations": {},
    }
    if rng.random() < 0.8:
        event["context"]["page"] = {"url": f"https://example.com/p/{rng.randrange(100)}", "title": "Pricing"}
    return event


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
    raw = [orjson.dumps(identify_event(rng, index)) for index in range(args.events)]
    events = [orjson.loads(line) for line in raw]
    mapping = compile_mapping(IDENTIFY_PRESET)
    trigger = fql.parse('type = "identify"')  # the Identify Contact preset's trigger
    count = len(events)

    def baseline() -> None:
        for line in raw:
            orjson.dumps(orjson.loads(line))

    def mapped() -> None:
        for event in events:
            mapping(event)

    def batch() -> None:
        mapping.transform_batch(events)

    def parse_map_dump() -> None:
        for line in raw:
            orjson.dumps(mapping(orjson.loads(line)))

    def parse_trigger_map_dump() -> None:
        for line in raw:
            event = orjson.loads(line)
            if trigger(event):
                orjson.dumps(mapping(event))

    rates = {
        "orjson loads+dumps (baseline)": best_rate(baseline, count, args.repeat),
        "mapping, single event": best_rate(mapped, count, args.repeat),
        "mapping, transform_batch": best_rate(batch, count, args.repeat),
        "orjson loads + mapping + dumps": best_rate(parse_map_dump, count, args.repeat),
        "loads + trigger + mapping + dumps": best_rate(parse_trigger_map_dump, count, args.repeat),
    }
    base = rates["orjson loads+dumps (baseline)"]

    print(f"Identify Contact preset (trigger + mapping), {count} identify events, best of {args.repeat}")
    print(f"{'measure':<34} {'events/s':>12} {'vs baseline':>12}")
    for name, rate in rates.items():
        print(f"{name:<34} {rate:>12,.0f} {rate / base:>11.2f}x")

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        orjson.dumps(
            {
                "benchmark": "mapping",
                "mapping": "gleap identifyContact preset (reference 6.3)",
                "events": count,
                "repeat": args.repeat,
                "seed": args.seed,
                "python": platform.python_version(),
                "machine": platform.machine(),
                "events_per_second": {name: round(rate) for name, rate in rates.items()},
                "ratio_to_baseline": {name: round(rate / base, 3) for name, rate in rates.items()},
            },
            option=orjson.OPT_INDENT_2,
        ).decode()
        + "\n"
    )
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
