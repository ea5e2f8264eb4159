"""The mappings page: each mapping's trigger and field mappings, the config file's problems where they are,
the YAML to copy, and the event tester (the same code path as `preview`).

Editing is done in the config file, not here: the page shows each mapping as YAML to copy. Writing the
file from the console could be made atomic and validated, but it would rewrite a file people keep in git
with comments, and expand its `${VAR}` placeholders (the Gleap token among them) into plain text; and a
cluster's nodes each read their own copy. After editing, `POST /admin/reload` or a restart applies it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml
from markupsafe import Markup

from gleap_actions.config import load_config
from gleap_actions.config.topology import DestinationConfig
from gleap_actions.console.html import banner, code, csrf_field, empty, join, layout, pretty
from gleap_actions.console.live import LiveEvent
from gleap_actions.engine.errors import ConfigError
from gleap_actions.engine.subscription import Subscription

_AT_MAPPING = re.compile(r"^((?:destinations\[\d+\]\.)?mappings\[\d+\])")


@dataclass(frozen=True, slots=True)
class FileProblems:
    """The config file's problems now. `names`: the file's mapping name at each mapping's location
    (`mappings[i]`, or `destinations[j].mappings[i]`); `destinations`: each destination's location by name."""

    errors: list[str]
    names: dict[str, str]
    destinations: dict[str, str]


def file_problems(path: Path) -> FileProblems | None:
    """Load the config file as it is on disk now: None when it loads cleanly."""
    try:
        load_config(path)
    except ConfigError as exc:
        return FileProblems(exc.errors, *_mapping_names(path))
    return None


def _mapping_names(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return {}, {}
    if not isinstance(document, dict):
        return {}, {}
    names = _names(document.get("mappings"), "mappings")
    destinations: dict[str, str] = {}
    entries = document.get("destinations")
    for j, entry in enumerate(entries if isinstance(entries, list) else []):
        if isinstance(entry, dict):
            if isinstance(entry.get("name"), str):
                destinations[entry["name"]] = f"destinations[{j}]"
            names |= _names(entry.get("mappings"), f"destinations[{j}].mappings")
    return names, destinations


def _names(entries: object, location: str) -> dict[str, str]:
    if not isinstance(entries, list):
        return {}
    return {
        f"{location}[{i}]": entry["name"]
        for i, entry in enumerate(entries)
        if isinstance(entry, dict) and isinstance(entry.get("name"), str)
    }


def problems_by_mapping(problems: FileProblems, destination: str) -> tuple[dict[str, list[str]], int]:
    """The problems of the mappings of `destination` (top-level `mappings` in the single form) by the
    mapping's name in the file (its location when it has none), and how many problems are elsewhere."""
    within = problems.destinations.get(destination, "")
    by_name: dict[str, list[str]] = {}
    others = 0
    for error in problems.errors:
        found = _AT_MAPPING.match(error)
        location = found.group(1) if found else None
        # `destinations[j].mappings[i]` belongs to `destinations[j]`, `mappings[i]` to the single form.
        if location is not None and location.rpartition(".mappings[")[0] == within:
            by_name.setdefault(problems.names.get(location, location), []).append(error)
        else:
            others += 1
    return by_name, others


def as_yaml(sub: Subscription) -> str:
    """The mapping as a `mappings:` list entry of the config file."""
    entry: dict[str, Any] = {"name": sub.name, "action": sub.action.name, "trigger": sub.trigger_text}
    entry["mapping"] = orjson.loads(orjson.dumps(sub.mapping_config))
    if not sub.enabled:
        entry["enabled"] = False
    if sub.action.perform_batch is not None:
        entry["batching"] = {"enabled": sub.batching, "size": sub.batch_size, "bytes": sub.batch_bytes}
    return yaml.safe_dump([entry], sort_keys=False, allow_unicode=True)


@dataclass(frozen=True, slots=True)
class Shown:
    """The configured destinations and the one whose mappings the page shows and tests."""

    destinations: Sequence[DestinationConfig]
    chosen: DestinationConfig


def page(
    shown: Shown,
    problems: FileProblems | None,
    recent: Sequence[LiveEvent],
    tester_input: str,
    tester_output: Markup | None,
    csrf: str,
    config_path: str | None,
) -> Markup:
    """The whole page. `problems`: the config file's problems now (None when it loads cleanly)."""
    subs = shown.chosen.subscriptions
    by_name, others = problems_by_mapping(problems, shown.chosen.name) if problems else ({}, 0)
    running = {sub.name for sub in subs}
    parts: list[Markup] = []
    if problems:
        parts.append(
            banner(
                f"The config file {config_path} has {len(problems.errors)} problem(s) now; this process "
                "keeps running the configuration it loaded last. Problems are shown with their mapping.",
                "warn",
            )
        )
        if others:
            # Only the mappings' problems are quoted: another section's message could quote its value
            # (a token, a write key).
            parts.append(
                Markup(
                    "<p>{} more outside these mappings: <code>gleap-actions config validate {}</code> "
                    "lists them.</p>"
                ).format(others, config_path or "FILE")
            )
        for name in sorted(set(by_name) - running):
            parts.append(
                Markup(
                    '<section class="mapping"><h2>{} <span class="meta">(in the file, not running)</span>'
                    "</h2>{}</section>"
                ).format(name, _problem_list(by_name[name]))
            )
    parts.append(_tester(recent, tester_input, tester_output, csrf, shown.chosen.name))
    if not subs:
        parts.append(
            empty(
                "No mappings are configured.", Markup("Add a <code>mappings</code> list to the config file.")
            )
        )
    for sub in subs:
        parts.append(_mapping(sub, by_name.get(sub.name, [])))
    note = Markup(
        '<p class="hint">To change a mapping, edit the config file{} (the YAML under each mapping is '
        "ready to copy) and reload: <code>POST /admin/reload</code> or restart. The console does not "
        "write the file.</p>"
    ).format(f" ({config_path})" if config_path else "")
    return layout("Mappings", "mappings", join([_picker(shown), note, *parts]), csrf=csrf)


def _picker(shown: Shown) -> Markup:
    """With several destinations: which one's mappings the page shows (and the tester runs)."""
    if len(shown.destinations) < 2:
        return Markup("")
    choices = join(
        Markup('<option value="{}"{}>{}</option>').format(
            d.name, Markup(" selected") if d is shown.chosen else "", d.name
        )
        for d in shown.destinations
    )
    return Markup(
        '<form method="get" action="/console/mappings" class="filters" aria-label="Destination">'
        '<label>Destination <select name="destination" data-testid="destination-pick">{}</select></label>'
        '<button type="submit">Show its mappings</button></form>'
        '<p class="meta" data-testid="destination-shown">Mappings of destination <strong>{}</strong> '
        "({} of {} destinations).</p>"
    ).format(
        choices, shown.chosen.name, 1 + list(shown.destinations).index(shown.chosen), len(shown.destinations)
    )


def _mapping(sub: Subscription, problems: list[str]) -> Markup:
    fields = join(
        Markup('<tr><th scope="row">{}</th><td><code>{}</code></td></tr>').format(
            name, orjson.dumps(value).decode()
        )
        for name, value in sub.mapping_config.items()
    )
    state = "enabled" if sub.enabled else "disabled"
    batching = f"batches of up to {sub.batch_size}" if sub.batching else "one event per request"
    problem_list = _problem_list(problems)
    return Markup(
        '<section class="mapping" aria-labelledby="map-{}" data-testid="mapping-{}"><h2 id="map-{}">{}</h2>'
        '<p class="meta">{} · {} · {}</p>{}<h3>Trigger</h3>{}<h3>Field mappings</h3>'
        '<div class="scroll"><table><tbody>{}</tbody></table></div>'
        "<details><summary>YAML for the config file</summary>{}</details></section>"
    ).format(
        sub.name,
        sub.name,
        sub.name,
        sub.name,
        sub.action.name,
        state,
        batching,
        problem_list,
        code(sub.trigger_text),
        fields or Markup("<tr><td>(the action's default mapping)</td></tr>"),
        code(as_yaml(sub)),
    )


def _problem_list(problems: list[str]) -> Markup:
    if not problems:
        return Markup("")
    return Markup('<ul class="problems" role="alert">{}</ul>').format(
        join(Markup("<li>{}</li>").format(p) for p in problems)
    )


def _tester(
    recent: Sequence[LiveEvent], text: str, output: Markup | None, csrf: str, destination: str
) -> Markup:
    options = join(
        Markup('<option value="{}">{} {} {}</option>').format(
            e.seq, e.type, e.name, f"({e.user_id})" if e.user_id else ""
        )
        for e in recent
    )
    pick = (
        Markup(
            '<form method="get" action="/console/mappings#tester" class="inline">'
            '<input type="hidden" name="destination" value="{}">'
            '<label>Recent event <select name="event" data-testid="tester-pick">{}</select></label>'
            '<button type="submit">Use it</button></form>'
        ).format(destination, options)
        if recent
        else Markup('<p class="hint">Recent events will be offered here once some arrive.</p>')
    )
    result = output if output is not None else Markup('<p class="hint">The requests appear here.</p>')
    return Markup(
        '<section id="tester" aria-labelledby="t"><h2 id="t">Test an event</h2>'
        "<p>Paste a Segment event (or a JSON array or JSON lines of them), or pick a recent one, and see the "
        "exact Gleap request each mapping of destination <strong>{}</strong> would send, or why it would "
        "not: the same code as <code>gleap-actions preview</code>. Nothing is sent.</p>{}"
        '<form method="post" action="/console/mappings/test#tester">{}'
        '<input type="hidden" name="destination" value="{}">'
        '<label for="tester-input">Event JSON</label>'
        '<textarea id="tester-input" name="event" rows="10" spellcheck="false" '
        'data-testid="tester-input">{}</textarea>'
        '<button type="submit" data-testid="tester-run">Run the mappings</button></form>'
        '<div class="tester-output" data-testid="tester-output" aria-live="polite">{}</div></section>'
    ).format(destination, pick, csrf_field(csrf), destination, text, result)


def tester_output(results: Sequence[dict[str, Any]]) -> Markup:
    """Preview's output lines as readable blocks."""
    if not results:
        return Markup("<p>No output.</p>")
    blocks = []
    for r in results:
        where = r.get("mapping") or "no mapping"
        if "error" in r:
            status = f" (HTTP {r['status']})" if r.get("status") else ""
            blocks.append(
                Markup('<div class="result rejected"><h4>{}: rejected{}</h4><p>{}</p></div>').format(
                    where, status, r["error"]
                )
            )
        elif "url" in r:
            request = {k: r[k] for k in ("method", "url", "headers", "body") if k in r}
            blocks.append(
                Markup('<div class="result request"><h4>{}: {} {}</h4>{}</div>').format(
                    where,
                    r.get("method", ""),
                    r.get("url", ""),
                    code(pretty(request), "Gleap request (token redacted)"),
                )
            )
        else:
            blocks.append(
                Markup('<div class="result muted"><h4>Event {}: not sent</h4><p>{}</p></div>').format(
                    r.get("event_index", ""), r.get("reason") or pretty(r)
                )
            )
    return join(blocks)
