"""`${VAR}` interpolation of every string value of the config, with shell/compose-style forms.

`${VAR}` (empty when unset), `${VAR:-default}` (default when unset or empty), `${VAR-default}` (default
when unset), `${VAR:?message}` / `${VAR?message}` (a problem when unset [or empty]), `$$` for a literal `$`.
Strings that used the environment become `EnvStr` so that messages never echo them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gleap_actions.config.problems import EnvStr, Problems, join

_REFERENCE = re.compile(r"\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\})")


def interpolate(value: Any, env: Mapping[str, str], location: str, problems: Problems) -> Any:
    """`value` with every string interpolated (recursively through lists and mappings)."""
    if isinstance(value, str):
        return _interpolate_string(value, env, location, problems)
    if isinstance(value, list):
        return [interpolate(item, env, join(location, i), problems) for i, item in enumerate(value)]
    if isinstance(value, dict):
        return {
            key: interpolate(item, env, join(location, str(key)), problems) for key, item in value.items()
        }
    return value


def _interpolate_string(text: str, env: Mapping[str, str], location: str, problems: Problems) -> str:
    if "$" not in text:
        return text
    parts: list[str] = []
    used_env = False
    position = 0
    while (dollar := text.find("$", position)) != -1:
        parts.append(text[position:dollar])
        match = _REFERENCE.match(text, dollar)
        if match is None:
            if text.startswith("${", dollar):
                problems.add(
                    location,
                    f"malformed variable reference at column {dollar + 1}: expected ${{NAME}}, "
                    "${NAME:-default} or ${NAME:?message} (write $$ for a literal $)",
                )
            parts.append("$")
            position = dollar + 1
            continue
        position = match.end()
        if match.group(1):
            parts.append("$")
            continue
        used_env = True
        parts.append(_resolve(match, env, location, problems))
    parts.append(text[position:])
    result = "".join(parts)
    return EnvStr(result) if used_env else result


def _resolve(match: re.Match[str], env: Mapping[str, str], location: str, problems: Problems) -> str:
    name, operator, argument = match.group(2), match.group(3), match.group(4) or ""
    value = env.get(name)
    missing = value is None or (value == "" and operator is not None and operator.startswith(":"))
    if not missing or operator is None:
        if value:
            problems.env_values.add(value)
        return value or ""
    if operator.endswith("-"):
        return argument
    problems.add(location, f"environment variable {name} is required" + (f": {argument}" if argument else ""))
    return ""
