"""`gleap-actions audiences list|show|preview`: the audiences and computed traits of the config."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import click
import orjson

from gleap_actions.audiences import KINDS, Definition, QuerySyntaxError, compile_definition
from gleap_actions.audiences.dependencies import evaluation_order, graph
from gleap_actions.audiences.preview import group_profiles, preview
from gleap_actions.cli.common import EXIT_CONFIG, config_option, load_or_exit
from gleap_actions.compute.status import status
from gleap_actions.config import Config
from gleap_actions.config.audiences import Computation
from gleap_actions.engine.datetimes import InvalidDatetime, parse_datetime
from gleap_actions.queue.factory import open_store, parse_location

T = TypeVar("T")

_KIND_LABEL = {"audience": "audience", "computed_trait": "computed trait"}


@click.group("audiences")
def audiences_group() -> None:
    """Audiences and computed traits (Segment's query language) defined in the config."""


@audiences_group.command("list")
@config_option
def list_command(config_path: str | None) -> None:
    """One line per audience and computed trait: kind, key, enabled or disabled, name; with the store of
    the config at hand also its state (syncing, live, removed, not started) and members."""
    config = load_or_exit(config_path)
    computations = _all(config)
    if not computations:
        click.echo("No audiences or computed traits are configured.", err=True)
    for document in _status(config, computations):
        enabled = "enabled" if document["enabled"] else "disabled"
        fields = [_KIND_LABEL[document["kind"]], document["key"], enabled]
        if "state" in document:
            fields += [document["state"], f"{document['members']} members"]
        click.echo("\t".join([*fields, document["name"]]))


@audiences_group.command("show")
@click.argument("name_or_key")
@config_option
def show_command(name_or_key: str, config_path: str | None) -> None:
    """Everything about one audience or computed trait: its definition, what it reads, how far back."""
    config = load_or_exit(config_path)
    computation = _find(config, name_or_key)
    definition = computation.definition
    references = definition.references
    window = definition.window
    lines = [
        f"name: {computation.name}",
        f"key: {computation.key}",
        f"kind: {_KIND_LABEL[computation.kind]}",
        f"enabled: {str(computation.enabled).lower()}",
        f"include_anonymous_users: {str(definition.include_anonymous_users).lower()}",
        f"definition: {definition.text}",
        f"events: {', '.join(sorted(references.events)) or 'none'}",
        f"traits: {', '.join(sorted(references.traits)) or 'none'}",
        f"history needed: {'all of it' if window is None else _duration(window.total_seconds())}",
    ]
    document = _status(config, [computation])[0]
    if "state" in document:
        lines += [f"state: {document['state']}", f"members: {document['members']}"]
    click.echo("\n".join(lines))


@audiences_group.command("preview")
@click.argument("events", type=click.File("rb"))
@click.argument("name_or_key", required=False)
@click.option("--definition", "text", help="A definition to preview instead of one from the config.")
@click.option(
    "--kind",
    type=click.Choice(KINDS),
    default="audience",
    show_default=True,
    help="What --definition is.",
)
@click.option(
    "--include-anonymous-users", is_flag=True, help="With --definition: evaluate anonymous profiles too."
)
@click.option("--now", "now_text", help="Evaluate at this ISO 8601 time instead of the current time.")
@click.option(
    "--next-change",
    is_flag=True,
    help="Add nextChange: when the result next changes with no new event (e.g. a window expiry).",
)
@config_option
def preview_command(
    events: BinaryIO,
    name_or_key: str | None,
    text: str | None,
    kind: str,
    include_anonymous_users: bool,
    now_text: str | None,
    next_change: bool,
    config_path: str | None,
) -> None:
    """Evaluate an audience or computed trait over the Segment events in EVENTS (JSONL, `-` for stdin).

    Events are grouped into profiles (userId, else anonymousId; identify and alias calls join ids). Prints
    one JSON line per member of an audience, or per profile with a value of a computed trait:
    {"userId", "anonymousIds", "value"}; a summary goes to stderr. Nothing is stored or sent.
    """
    definition, dependencies = _definition(name_or_key, text, kind, include_anonymous_users, config_path)
    now = _now(now_text)
    profiles, skipped = group_profiles(events)
    for line in skipped:
        click.echo(f"line {line.line}: skipped: {line.reason}", err=True)
    shown = 0
    for record in preview(definition, profiles, now, next_change=next_change, dependencies=dependencies):
        click.echo(orjson.dumps(record).decode())
        shown += 1
    noun = "member(s)" if definition.kind == "audience" else "value(s)"
    click.echo(f"{len(profiles)} profile(s), {shown} {noun} at {now.isoformat()}", err=True)


def _status(config: Config, computations: Sequence[Computation]) -> list[dict[str, Any]]:
    """`compute.status` with the config's store when one exists (never creating one)."""
    return _with_store(config, lambda profiles: status(computations, profiles))


def _with_store(config: Config, body: Callable[[Any], T]) -> T:
    where = parse_location(config.storage.url, config.storage.data_dir)
    if where.backend == "sqlite" and not Path(where.target).exists():
        return body(None)
    backend = open_store(config.storage.url, data_dir=config.storage.data_dir)
    try:
        return body(backend.store.profiles)
    finally:
        backend.close()


def _all(config: Config) -> tuple[Computation, ...]:
    return config.audiences + config.computed_traits


def _find(config: Config, name_or_key: str) -> Computation:
    for computation in _all(config):
        if name_or_key in (computation.key, computation.name):
            return computation
    known = ", ".join(c.key for c in _all(config)) or "none configured"
    raise click.UsageError(f"no audience or computed trait named {name_or_key!r} (keys: {known})")


def _definition(
    name_or_key: str | None, text: str | None, kind: str, anonymous: bool, config_path: str | None
) -> tuple[Definition, list[tuple[str, Definition]]]:
    """The definition to preview, and the configured ones it reads as traits, in evaluation order."""
    if (name_or_key is None) == (text is None):
        raise click.UsageError("give either NAME_OR_KEY (from the config) or --definition TEXT")
    config = load_or_exit(config_path) if config_path or name_or_key else None
    configured = {c.key: c.definition for c in _all(config)} if config else {}
    if name_or_key is not None:
        assert config is not None
        definition = _find(config, name_or_key).definition
    else:
        assert text is not None
        definition = _compile(text, kind, anonymous)
    edges = {**graph(configured), "": sorted(definition.references.traits & configured.keys())}
    return definition, [(key, configured[key]) for key in evaluation_order(edges, "")]


def _compile(text: str, kind: str, anonymous: bool) -> Definition:
    try:
        return compile_definition(text, kind=kind, include_anonymous_users=anonymous)  # type: ignore[arg-type]
    except QuerySyntaxError as exc:
        click.echo(f"--definition: {exc}", err=True)
        click.echo(f"  {text}\n  {' ' * (exc.column - 1)}^", err=True)
        sys.exit(EXIT_CONFIG)


def _now(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        return parse_datetime(text)
    except InvalidDatetime as exc:
        raise click.BadParameter(f"expected an ISO 8601 time such as 2024-06-01T12:00:00Z ({exc})") from None


def _duration(seconds: float) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds:g} seconds"
