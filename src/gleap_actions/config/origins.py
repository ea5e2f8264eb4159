"""`server.cors_origins`: the browser origins allowed to call the tracking API."""

from __future__ import annotations

from urllib.parse import urlsplit

from gleap_actions.config.problems import join
from gleap_actions.config.reader import Section

ANY_ORIGIN = "*"


def read_origins(section: Section, key: str) -> tuple[str, ...]:
    """The origins at `key` (default: any), each `*` or `scheme://host[:port]` as browsers send it."""
    if section.raw(key) is None:
        return (ANY_ORIGIN,)
    origins: list[str] = []
    for index, text in enumerate(section.string_list(key)):
        origin = normalize_origin(text)
        if origin is None:
            section.problems.add(
                join(section.at(key), index),
                f"expected '*' or an origin such as https://app.example.com (scheme, host, optional port;"
                f" no path), got {text[:60]!r}",
            )
        else:
            origins.append(origin)
    return tuple(origins)


def normalize_origin(text: str) -> str | None:
    """`text` as a browser's `Origin` header spells it (lower case, no trailing slash), or None."""
    if text == ANY_ORIGIN:
        return text
    parts = urlsplit(text.strip().rstrip("/"))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if parts.path or parts.query or parts.fragment or parts.username or parts.password:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")
