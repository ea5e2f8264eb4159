"""`@replace`'s string operation: a literal pattern with JavaScript replacement-string rules.

The pattern is a literal substring (Segment escapes every regex metacharacter), optionally matched
case-insensitively and replacing all or only the first occurrence. In the replacement, `$&` is the
match, `$$` a dollar, `` $` `` / `$'` the text before / after the match; anything else (including
backslashes and `$1`, there being no groups) is literal, as in JavaScript's `String.replace`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_MATCH, _BEFORE, _AFTER = 0, 1, 2
_SPECIAL = {"&": _MATCH, "`": _BEFORE, "'": _AFTER}


def _parse_replacement(replacement: str) -> list[str | int]:
    parts: list[str | int] = []
    literal: list[str] = []
    i = 0
    while i < len(replacement):
        char = replacement[i]
        following = replacement[i + 1 : i + 2]
        if char == "$" and following == "$":
            literal.append("$")
            i += 2
        elif char == "$" and following in _SPECIAL:
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(_SPECIAL[following])
            i += 2
        else:
            literal.append(char)
            i += 1
    if literal:
        parts.append("".join(literal))
    return parts


def compile_replace(
    pattern: str, replacement: str, *, ignorecase: bool, global_: bool
) -> Callable[[str], str]:
    """A function replacing `pattern` (literal) by `replacement` (JS rules) in a string."""
    parts = _parse_replacement(replacement)
    count = 0 if global_ else 1
    if not ignorecase and all(isinstance(part, str) for part in parts):
        plain = "".join(str(part) for part in parts)
        return lambda value: value.replace(pattern, plain, -1 if global_ else 1)

    regex = re.compile(re.escape(pattern), re.IGNORECASE if ignorecase else 0)

    def run(value: str) -> str:
        def substitute(match: re.Match[str]) -> str:
            out: list[str] = []
            for part in parts:
                if isinstance(part, str):
                    out.append(part)
                elif part == _MATCH:
                    out.append(match.group())
                elif part == _BEFORE:
                    out.append(value[: match.start()])
                else:
                    out.append(value[match.end() :])
            return "".join(out)

        return regex.sub(substitute, value, count=count)

    return run
