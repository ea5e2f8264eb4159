"""`gleap-actions send EVENTS.jsonl`: deliver a file of Segment events to Gleap (a backfill).

The file goes through the same path as live traffic (mappings, batching, adaptive concurrency, the rate
limit, retries), with the events' own dates kept. Its events are queued in a SQLite file kept per
destination under the data dir (`DATA_DIR/send/<destination hash>.db`), so a re-run of the same file, after
Ctrl+C or a failure, sends only what was not delivered yet: events are recognised by `messageId` (a line
without one gets a hash of its content). The run ends when everything is settled, when Gleap refuses the
token (401/403), when no request has got through for `--give-up-after` seconds, at `--timeout`, or on
Ctrl+C; a summary (delivered, rejected with reasons, not delivered) is printed to stderr in every case.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import io
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import click
import orjson

from gleap_actions import events
from gleap_actions.cli.common import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_TEMPORARY,
    config_option,
    destination_option,
    for_destination,
    load_or_exit,
)
from gleap_actions.cli.send_summary import SendReport
from gleap_actions.config import Config
from gleap_actions.config.load import SANDBOX_API_TOKEN
from gleap_actions.deliver.pipeline import Pipeline, Tuning
from gleap_actions.destinations.gleap.client import send
from gleap_actions.destinations.gleap.settings import GleapSettings
from gleap_actions.queue.sqlite.store import SQLiteStore
from gleap_actions.queue.store import NewEvent
from gleap_actions.sandbox import Sandbox

SOURCE = "send"  # the dedup scope of the send queue: one messageId is sent once
# A delivered messageId is remembered this long: a re-run of an old file still sends nothing twice.
DEDUP_WINDOW = 10 * 365 * 86400.0
EXIT_INTERRUPTED = 130


@click.command("send")
@click.argument("events_file", metavar="EVENTS.jsonl", type=click.File("rb"))
@config_option
@destination_option
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    envvar="GLEAP_ACTIONS_DATA_DIR",
    help="Where the send queue is kept, in send/ (default: $GLEAP_ACTIONS_DATA_DIR, else the config's "
    "storage.data_dir, else ./data).",
)
@click.option(
    "--sandbox",
    is_flag=True,
    help="Deliver to a built-in Gleap sandbox started for this run (a dry run over real HTTP; nothing "
    "leaves this machine and nothing is remembered).",
)
@click.option(
    "--give-up-after",
    type=click.FloatRange(min=0, min_open=True),
    default=300.0,
    show_default=True,
    help="Stop when no event has been delivered (or rejected for good) for this many seconds: Gleap "
    "unreachable or failing. What is left stays queued for a re-run.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    help="Stop after this many seconds in all (default: until every event is settled).",
)
@click.option("--progress/--no-progress", default=None, help="A progress bar (default: when on a terminal).")
def send_command(
    events_file: BinaryIO,
    config_path: str | None,
    destination: str | None,
    data_dir: str | None,
    sandbox: bool,
    give_up_after: float,
    timeout: float | None,
    progress: bool | None,
) -> None:
    """Deliver EVENTS.jsonl (one Segment event per line, or - for stdin) to Gleap.

    Events keep their own timestamp and receivedAt. A re-run of the same file sends only what was not
    delivered yet. Exit 0 when every event was delivered or filtered by choice (integrations object, no
    matching mapping); 1 when a line was invalid, an event was rejected or the token was refused; 3 when
    Gleap could not be reached in time (run again later); 130 on Ctrl+C. With several destinations:
    to the first one, or to --destination.
    """
    config = for_destination(load_or_exit(config_path), destination)
    if not sandbox and config.uses_sandbox:
        click.echo(
            "No Gleap API token is configured (GLEAP_API_TOKEN or gleap.api_token); "
            "use --sandbox for a dry run against a local Gleap sandbox.",
            err=True,
        )
        sys.exit(EXIT_CONFIG)
    limits = _Limits(give_up_after, timeout, sys.stderr.isatty() if progress is None else progress)
    with _queue_file(config, data_dir, sandbox) as queue:
        report = asyncio.run(_send(events_file, config, queue, limits, sandbox))
    report.print()
    sys.exit(_exit_code(report))


@dataclasses.dataclass(frozen=True)
class _Limits:
    give_up_after: float
    timeout: float | None
    progress: bool


@contextmanager
def _queue_file(config: Config, data_dir: str | None, sandbox: bool) -> Iterator[Path]:
    """The send queue: per destination under the data dir, or a throwaway one for the sandbox."""
    if sandbox:
        with tempfile.TemporaryDirectory(prefix="gleap-actions-send-") as scratch:
            yield Path(scratch) / "send.db"
        return
    folder = Path(data_dir) if data_dir is not None else config.storage.data_dir
    name = hashlib.sha256(config.gleap.destination.encode()).hexdigest()[:16]
    (folder / "send").mkdir(parents=True, exist_ok=True)
    yield folder / "send" / f"{name}.db"


def _read(stream: BinaryIO, read_at: float, report: SendReport) -> list[NewEvent]:
    """The file's valid events in stored form, once per messageId; invalid lines go to the report."""
    queued: list[NewEvent] = []
    seen: set[str] = set()
    for line_number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        report.read += 1
        try:
            raw = orjson.loads(line)
            if isinstance(raw, dict) and not raw.get("messageId"):
                # The same line gets the same id in every run, so a re-run does not send it again.
                raw["messageId"] = "send-" + hashlib.sha256(line.strip()).hexdigest()[:32]
            # As preview reads it: the event's own `type` says what it is (and must be a known one).
            event = events.normalize_recorded(raw, read_at)
        except orjson.JSONDecodeError as exc:
            report.invalid.append(f"line {line_number}: not valid JSON ({exc})")
            continue
        except events.EventError as exc:
            report.invalid.append(f"line {line_number}: {exc.message}")
            continue
        if event["messageId"] in seen:
            report.duplicates_in_file += 1
            continue
        seen.add(event["messageId"])
        queued.append(NewEvent.from_event(event, source=SOURCE, received_at=read_at))
    return queued


async def _send(stream: BinaryIO, config: Config, queue: Path, limits: _Limits, sandbox: bool) -> SendReport:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    report = SendReport(destination="the built-in Gleap sandbox" if sandbox else config.gleap.base_url)
    store = SQLiteStore(str(queue), synchronous="NORMAL")
    gleap = await _start_sandbox(config.gleap) if sandbox else None
    try:
        settings = config.gleap if gleap is None else gleap[1]
        before = store.stats(time.time())
        report.left_from_earlier_run = before.unrouted + before.pending + before.in_flight
        queued = _read(stream, time.time(), report)
        accepted = sum(store.append(queued, dedup_window=DEDUP_WINDOW)) if queued else 0
        report.sent_by_earlier_run = len(queued) - accepted
        if not stop.is_set():
            await _deliver(store, config, settings, report, limits, stop, accepted)
        else:
            report.stopped = "interrupted"
        after = store.stats(time.time())
        report.not_delivered = after.unrouted + after.pending + after.in_flight
    finally:
        store.close()
        if gleap is not None:
            await gleap[0].stop()
        loop.remove_signal_handler(signal.SIGINT)
    return report


async def _start_sandbox(settings: GleapSettings) -> tuple[Sandbox, GleapSettings]:
    gleap = Sandbox(api_token=SANDBOX_API_TOKEN)
    await gleap.start()
    return gleap, dataclasses.replace(settings, api_token=SANDBOX_API_TOKEN, base_url=gleap.url)


async def _deliver(
    store: SQLiteStore,
    config: Config,
    settings: GleapSettings,
    report: SendReport,
    limits: _Limits,
    stop: asyncio.Event,
    accepted: int,
) -> None:
    """Run the pipeline until the queue is settled or a reason to stop comes up (written to `report`)."""
    pipeline = Pipeline(
        store, config.subscriptions, settings, config.delivery, send=send, tuning=Tuning(probe_interval=5.0)
    )
    report.outcomes = outcomes = pipeline.outcomes
    await pipeline.start()
    started = time.monotonic()
    total = report.left_from_earlier_run + accepted
    sink = sys.stderr if limits.progress else io.StringIO()
    with click.progressbar(length=total, label="Delivering", file=sink) as bar:
        done = 0
        while True:
            stats = await asyncio.to_thread(store.stats, time.time())
            remaining = stats.unrouted + stats.pending + stats.in_flight
            # Counts deliveries still waiting: an event routed to several mappings holds the bar back,
            # never moves it backwards.
            if total - remaining > done:
                bar.update(total - remaining - done)
                done = total - remaining
            now = time.monotonic()
            if remaining == 0:
                break
            if outcomes.refused_status is not None:
                report.stopped = "refused"
            elif now - outcomes.last_progress >= limits.give_up_after:
                report.stopped = "gave_up"
                report.give_up_after = limits.give_up_after
            elif limits.timeout is not None and now - started >= limits.timeout:
                report.stopped = "timeout"
            elif stop.is_set():
                report.stopped = "interrupted"
            if report.stopped is not None:
                break
            pipeline.notify()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.1)
    await pipeline.stop(timeout=5.0)


def _exit_code(report: SendReport) -> int:
    if report.stopped == "interrupted":
        return EXIT_INTERRUPTED
    if report.stopped in ("gave_up", "timeout"):
        return EXIT_TEMPORARY
    return 0 if report.ok else EXIT_FAILED
