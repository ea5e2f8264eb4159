"""`gleap-actions preview EVENTS.jsonl|-`: the requests a config would send, without sending anything."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import BinaryIO

import click

from gleap_actions.cli.common import config_option, destination_option, for_destination, load_or_exit
from gleap_actions.preview import preview

_CHUNK = 1000  # lines per write: one write per line costs more than the preview itself


@click.command("preview")
@click.argument("events", type=click.File("rb"))
@click.option(
    "--batch",
    is_flag=True,
    help="Group events into batch requests for mappings whose batching is on, as delivery does.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Processes previewing parts of EVENTS at once (default: the CPUs available; 1: this process "
    "alone). The output is the same for any number. Files under 5,000 lines are previewed in this process.",
)
@config_option
@destination_option
def preview_command(
    events: BinaryIO, batch: bool, jobs: int | None, config_path: str | None, destination: str | None
) -> None:
    """Dry run: print one JSON line per request that would be sent to Gleap for EVENTS.

    EVENTS holds one Segment event per line (`-` reads stdin). Rejected, filtered and unmatched events and
    invalid lines get a line each, with their event_index. Tokens are shown as ***. No network is used.
    With several destinations: the first one's mappings, or those of --destination.
    """
    config = for_destination(load_or_exit(config_path), destination)
    out = sys.stdout.buffer
    chunk: list[bytes] = []
    if jobs == 1:
        lines: Iterable[bytes] = preview(events, config, batch=batch)
    else:
        from gleap_actions import preview_jobs

        try:
            lines = preview_jobs.preview_lines(
                events.readlines(), config, batch=batch, jobs=jobs or preview_jobs.available_cpus()
            )
        except preview_jobs.PreviewJobError as error:
            raise click.ClickException(str(error)) from None
    for line in lines:
        chunk.append(line)
        if len(chunk) == _CHUNK:
            out.write(b"\n".join(chunk) + b"\n")
            chunk.clear()
    if chunk:
        out.write(b"\n".join(chunk) + b"\n")
    out.flush()
