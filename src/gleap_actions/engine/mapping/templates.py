"""`@template`: `{{path}}` placeholders, Segment's `placeholders.ts` semantics.

Every `{{{ X }}}` is replaced first, then every `{{ X }}` (X without `}`), X trimmed and looked up
with `get` (no `$.` stripping). null and missing print as `""`, anything else as JS `String(x)`. No
HTML escaping. A template without triple braces is split into parts once; one with triple braces
is rendered with two regex passes, since the second pass also sees the text the first inserted.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from gleap_actions.engine.jsvalues import MISSING, js_string
from gleap_actions.engine.mapping.paths import Getter, compile_getter, get, parse_path

Renderer = Callable[[Any], str]

_TRIPLE = re.compile(r"\{\{\{([^}]+)\}\}\}")
_DOUBLE = re.compile(r"\{\{([^}]+)\}\}")


def _text(value: Any) -> str:
    if value is None or value is MISSING:
        return ""
    if type(value) is str:
        return value
    return js_string(value)


def _replace(match: re.Match[str], payload: Any) -> str:
    return _text(get(payload, parse_path(match.group(1).strip())))


@lru_cache(maxsize=1024)
def compile_template(template: str) -> Renderer:
    """A function `payload -> str` rendering `template`."""
    if _TRIPLE.search(template):

        def render_two_pass(payload: Any) -> str:
            def replace(match: re.Match[str]) -> str:
                return _replace(match, payload)

            return _DOUBLE.sub(replace, _TRIPLE.sub(replace, template))

        return render_two_pass

    parts: list[str | Getter] = []
    position = 0
    for match in _DOUBLE.finditer(template):
        if match.start() > position:
            parts.append(template[position : match.start()])
        parts.append(compile_getter(parse_path(match.group(1).strip())))
        position = match.end()
    if position < len(template):
        parts.append(template[position:])

    if not parts:
        return lambda payload: ""
    if len(parts) == 1 and isinstance(parts[0], str):
        constant = parts[0]
        return lambda payload: constant

    def render(payload: Any) -> str:
        return "".join(part if isinstance(part, str) else _text(part(payload)) for part in parts)

    return render
