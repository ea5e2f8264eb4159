"""Compiled FQL triggers against hand-written Python predicates (the baseline), in the same run.

    .venv/bin/python bench/bench_fql.py [--number 50000] [--output F]

Prints, per trigger, nanoseconds per event for both and their ratio (compiled / hand-written), and writes
bench/results/fql.json.
"""

from __future__ import annotations

import argparse
import json
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gleap_actions import fql

RESULTS = Path(__file__).parent / "results" / "fql.json"

EVENTS: list[dict[str, Any]] = [
    {"type": "track", "event": "Order Completed", "properties": {"total": 150, "items": [{"sku": "a"}]}},
    {"type": "page", "name": "Pricing", "context": {"page": {"url": "https://example.com/pricing"}}},
    {"type": "identify", "userId": "u1", "traits": {"email": "jane@example.com", "vip": True}},
    {"type": "screen", "name": "Home", "context": {"app": {"version": "2.4.1"}}},
]


def _props(event: dict[str, Any]) -> Any:
    return event.get("properties") if isinstance(event.get("properties"), dict) else {}


CASES: list[tuple[str, Callable[[dict[str, Any]], bool]]] = [
    (
        'type = "track" or type = "page" or type = "screen"',
        lambda e: e.get("type") in ("track", "page", "screen"),
    ),
    ('type = "identify"', lambda e: e.get("type") == "identify"),
    (
        'event = "Order Completed" and properties.total > 100',
        lambda e: (
            e.get("event") == "Order Completed"
            and type(t := _props(e).get("total")) in (int, float)
            and t > 100
        ),
    ),
    (
        'match(context.page.url, "https://*") or traits.vip = true',
        lambda e: (
            (
                isinstance(u := ((e.get("context") or {}).get("page") or {}).get("url"), str)
                and u.startswith("https://")
            )
            or (e.get("traits") or {}).get("vip") is True
        ),
    ),
]


def per_event_ns(predicate: Callable[[dict[str, Any]], bool], rounds: int = 50_000) -> float:
    def run() -> None:
        for event in EVENTS:
            predicate(event)

    best = min(timeit.repeat(run, number=rounds, repeat=3))
    return best / (rounds * len(EVENTS)) * 1e9


def main() -> None:
    """Runs every case, prints the comparison and writes the results."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--number", type=int, default=50_000, help="rounds over the events per timing")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON results")
    args = parser.parse_args()
    results = []
    for text, baseline in CASES:
        trigger = fql.parse(text)
        assert [trigger(e) for e in EVENTS] == [baseline(e) for e in EVENTS], text
        ours, theirs = per_event_ns(trigger, args.number), per_event_ns(baseline, args.number)
        print(f"compiled {ours:7.0f} ns  baseline {theirs:7.0f} ns  ratio {ours / theirs:4.2f}  {text}")
        results.append({"trigger": text, "ns": round(ours, 1), "baseline_ns": round(theirs, 1)})
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"benchmark": "fql", "triggers": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
