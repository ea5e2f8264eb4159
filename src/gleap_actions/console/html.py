"""Markup helpers and the page layout. Every value goes through `markupsafe` escaping (`Markup.format`,
`escape`), so event data shown in a page can never become markup."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson
from markupsafe import Markup, escape

NAV = (
    ("overview", "Overview", "/console/overview"),
    ("events", "Live events", "/console/events"),
    ("mappings", "Mappings", "/console/mappings"),
    ("dead-letters", "Dead letters", "/console/dead-letters"),
    ("audiences", "Audiences", "/console/audiences"),
)


def join(parts: Iterable[Markup | str]) -> Markup:
    """Concatenate markup (strings are escaped)."""
    return Markup("").join(escape(p) for p in parts)


def when(ts: float | None) -> str:
    """A timestamp as UTC `HH:MM:SS` today or `YYYY-MM-DD HH:MM`."""
    if ts is None:
        return ""
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def age(seconds: float) -> str:
    """A duration in words: `4 s`, `3 min`, `2.5 h`, `3.1 d`."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def pretty(value: str | bytes | Any) -> str:
    """JSON text re-indented for reading (text that is not JSON is returned as is)."""
    if isinstance(value, str | bytes):
        if not value:
            return ""
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def code(text: str, label: str = "", testid: str = "") -> Markup:
    """A scrollable preformatted block."""
    attrs = Markup(' data-testid="{}"').format(testid) if testid else Markup("")
    caption = Markup('<div class="code-label">{}</div>').format(label) if label else Markup("")
    return Markup('{}<pre class="code" tabindex="0"{}>{}</pre>').format(caption, attrs, text)


def options(values: Iterable[str], selected: str) -> Markup:
    """`<option>`s for a select: "" (shown as "any") first, then `values`."""
    return join(
        Markup('<option value="{}"{}>{}</option>').format(
            v, Markup(" selected") if v == selected else "", v or "any"
        )
        for v in ("", *values)
    )


def csrf_field(csrf: str) -> Markup:
    """The hidden CSRF field every console form carries."""
    return Markup('<input type="hidden" name="csrf" value="{}">').format(csrf)


def empty(message: str, hint: Markup | str = "") -> Markup:
    """An empty state: what is missing and what to do about it."""
    return Markup('<div class="empty"><p>{}</p><p class="hint">{}</p></div>').format(message, hint)


def banner(message: str, kind: str = "info") -> Markup:
    """A notice at the top of a page (`kind`: info, ok, warn, error)."""
    role = "alert" if kind in ("warn", "error") else "status"
    return Markup('<div class="banner {}" role="{}">{}</div>').format(kind, role, message)


def layout(title: str, active: str, body: Markup, *, csrf: str | None, refresh: str = "") -> Markup:
    """A whole page: header with navigation and sign-out, then `body`. `refresh` names a fragment URL
    the page's script reloads every few seconds (live pages)."""
    links = join(
        Markup('<a href="{}"{}>{}</a>').format(
            href, Markup(' aria-current="page"') if key == active else Markup(""), label
        )
        for key, label, href in NAV
    )
    signout = (
        Markup(
            '<form method="post" action="/console/logout" class="signout">{}'
            '<button type="submit" class="link">Sign out</button></form>'
        ).format(csrf_field(csrf))
        if csrf is not None
        else Markup("")
    )
    nav = Markup('<nav aria-label="Console">{}</nav>{}').format(links, signout) if csrf else Markup("")
    data = Markup(' data-refresh="{}"').format(refresh) if refresh else Markup("")
    return Markup(
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>{} · gleap-actions console</title>"
        '<link rel="stylesheet" href="/console/static/console.css">'
        '<script src="/console/static/console.js" defer></script></head>'
        '<body{}><a class="skip" href="#main">Skip to content</a>'
        '<header><span class="brand">gleap-actions</span>{}</header>'
        '<main id="main" tabindex="-1"><h1>{}</h1>{}</main></body></html>'
    ).format(title, data, nav, title, body)
