"""`gleap-actions send EVENTS.jsonl`: deliver a file of Segment events to Gleap (a backfill).

The file goes through the same path as live traffic: each line is normalised, queued in a temporary SQLite
store, routed through the mappings and delivered by the pipeline, with batching, adaptive concurrency, the
rate limit and retries. At the end a summary; the exit code is non-zero when anything was not delivered.
"""

from __future__ import annotations

import asyncio
import io
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import BinaryIO

import click
import orjson

from gleap_actions import events
from gleap_actions.cli.common import EXIT_CONFIG, EXIT_FAILED, config_option, load_or_exit
from gleap_actions.config import Config
from gleap_actions.deliver.pipeline import Pipeline, Tuning
from gleap_actions.destinations.gleap.client import send
from gleap_actions.queue.sqlite.store import SQLiteStore
from gleap_actions.queue.store import NewEvent

SOURCE = "send"  # the dedup scope of a file: messageIds repeated within the file are sent once


@click.command("send")
@click.argument("events_file", metavar="EVENTS.jsonl", type=click.File("rb"))
@config_option
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    help="Stop after this many seconds and report what is left (default: until every event is settled).",
)
@click.option("--progress/--no-progress", default=None, help="A progress bar (default: when on a terminal).")
def send_command(
    events_file: BinaryIO, config_path: str | None, timeout: float | None, progress: bool | None
) -> None:
    """Deliver EVENTS.jsonl (one Segment event per line, or - for stdin) to Gleap.

    Exit 0 when every event was delivered or filtered by choice (integrations object, no matching
    mapping); 1 when any line was invalid or any delivery failed for good (the reasons are listed).
    """
    config = load_or_exit(config_path)
    if config.uses_sandbox:
        click.echo("No Gleap API token is configured (GLEAP_API_TOKEN or gleap.api_token).", err=True)
        sys.exit(EXIT_CONFIG)
    show_progress = sys.stderr.isatty() if progress is None else progress
    with tempfile.TemporaryDirectory(prefix="gleap-actions-send-") as folder:
        ok = asyncio.run(_send(events_file, config, Path(folder), timeout, show_progress))
    sys.exit(0 if ok else EXIT_FAILED)


def _read(stream: BinaryIO, received_at: float) -> tuple[list[NewEvent], list[str]]:
    """The file's events in stored form, and a message per invalid line."""
    queued: list[NewEvent] = []
    invalid: list[str] = []
    for line_number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            raw = orjson.loads(line)
            call_type = raw.get("type") if isinstance(raw, dict) else None
            event = events.normalize(raw, call_type, received_at=received_at)
        except orjson.JSONDecodeError as exc:
            invalid.append(f"line {line_number}: not valid JSON ({exc})")
            continue
        except events.EventError as exc:
            invalid.append(f"line {line_number}: {exc.message}")
            continue
        queued.append(NewEvent.from_event(event, source=SOURCE, received_at=received_at))
    return queued, invalid


async def _send(
    stream: BinaryIO, config: Config, folder: Path, timeout: float | None, progress: bool
) -> bool:
    store = SQLiteStore(str(folder / "send.db"), synchronous="NORMAL")  # a scratch queue: WAL is enough
    queued, invalid = _read(stream, time.time())
    accepted = store.append(queued) if queued else []
    total = sum(accepted)
    pipeline = Pipeline(
        store,
        config.subscriptions,
        config.gleap,
        config.delivery,
        send=send,
        delivery_enabled=events.delivery_enabled,
        tuning=Tuning(probe_interval=5.0),
    )
    await pipeline.start()
    deadline = time.monotonic() + timeout if timeout is not None else None
    settled = False
    with click.progressbar(
        length=total, label="Delivering", file=sys.stderr if progress else io.StringIO()
    ) as bar:
        done = 0
        while True:
            stats = await asyncio.to_thread(store.stats, time.time())
            remaining = stats.unrouted + stats.pending + stats.in_flight
            # Progress counts deliveries still waiting; with one mapping per event that is one per event
            # (an event routed to several mappings holds the bar back, never moves it backwards).
            now_done = total - remaining
            if now_done > done:
                bar.update(now_done - done)
                done = now_done
            if remaining == 0:
                settled = True
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            pipeline.notify()
            await asyncio.sleep(0.1)
    await pipeline.stop(timeout=5.0)
    ok = _summary(pipeline, store, total, len(queued) - total, invalid, settled)
    store.close()
    return ok


def _summary(
    pipeline: Pipeline, store: SQLiteStore, total: int, duplicates: int, invalid: list[str], settled: bool
) -> bool:
    registry = pipeline.metrics.registry
    delivered = Counter[str]()
    for metric in registry.collect():
        for sample in metric.samples:
            if sample.name == "gleap_actions_delivered_total":
                delivered[sample.labels["mapping"]] += int(sample.value)
    filtered = {
        reason: int(registry.get_sample_value("gleap_actions_filtered_events_total", {"reason": reason}) or 0)
        for reason in ("integrations", "no_matching_mapping")
    }
    letters = store.list_dead_letters(limit=100_000)
    stats = store.stats(time.time())
    lines = [
        "",
        f"{'events read':<34}{total + duplicates + len(invalid):>10}",
        f"{'invalid lines':<34}{len(invalid):>10}",
        f"{'duplicate messageIds (sent once)':<34}{duplicates:>10}",
        f"{'filtered: integrations object':<34}{filtered['integrations']:>10}",
        f"{'filtered: no mapping matched':<34}{filtered['no_matching_mapping']:>10}",
    ]
    for mapping, count in sorted(delivered.items()):
        lines.append(f"{'delivered: ' + mapping:<34}{count:>10}")
    lines.append(f"{'failed (dead letters)':<34}{len(letters):>10}")
    if not settled:
        lines.append(f"{'not settled (timed out)':<34}{stats.unrouted + stats.pending + stats.in_flight:>10}")
    click.echo("\n".join(lines), err=True)
    reasons = Counter(f"{d.mapping}: {d.reason}" for d in letters)
    for text in invalid[:20]:
        click.echo(f"  invalid {text}", err=True)
    if len(invalid) > 20:
        click.echo(f"  ... and {len(invalid) - 20} more invalid lines", err=True)
    for reason, count in reasons.most_common(20):
        click.echo(f"  {count} x {reason}", err=True)
    return settled and not invalid and not letters
