"""`GET /v1/projects/{writeKey}/settings`: the source settings Segment's client libraries load first.

analytics.js (`AnalyticsBrowser.load({writeKey, cdnURL})`) fetches `{cdnURL}/v1/projects/{writeKey}/settings`
and the mobile libraries fetch `https://{cdnHost}/projects/{writeKey}/settings`; the answer's
`integrations["Segment.io"]` (`apiKey`, `apiHost`, `protocol`) says where the library sends its calls. Here it
points back at this service: `server.public_url` when set, else the scheme and `Host` of the request itself
(`X-Forwarded-Proto` counts, for a TLS proxy in front). Remote metrics are switched off (`sampleRate` 0):
otherwise analytics.js would post its telemetry to Segment.

Known write keys only (404 otherwise), by the same rule as ingest: with no write keys configured any key is
accepted, so any key gets settings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import orjson
from aiohttp import web

from gleap_actions.ingest.tracking import source_id

SETTINGS_PATH = "/v1/projects/{write_key}/settings"

# What a Host header may hold (a name or an IP literal and a port); anything else is not echoed back.
_HOST = re.compile(r"[A-Za-z0-9.\-]+(:\d{1,5})?|\[[0-9A-Fa-f:.]+\](:\d{1,5})?")
# Settings derived from request headers must not be kept by a shared cache (a forged Host would stick).
_CACHE_DERIVED = "no-store"
_CACHE_CONFIGURED = "public, max-age=60"


def _json(status: int, payload: dict[str, Any], cache: str) -> web.Response:
    return web.Response(
        status=status,
        body=orjson.dumps(payload),
        content_type="application/json",
        headers={"Cache-Control": cache},
    )


def settings_for(write_key: str, api_host: str, protocol: str) -> dict[str, Any]:
    """The settings document telling a Segment library to send to `protocol://api_host`."""
    return {
        "integrations": {
            "Segment.io": {"apiKey": write_key, "apiHost": api_host, "protocol": protocol},
        },
        "plan": {"track": {"__default": {"enabled": True, "integrations": {}}}},
        "edgeFunction": {},
        "analyticsNextEnabled": True,
        "middlewareSettings": {},
        "enabledMiddleware": {},
        "metrics": {"sampleRate": 0},
        "legacyVideoPluginsEnabled": False,
        "remotePlugins": [],
    }


def api_host_of(public_url: str) -> tuple[str, str]:
    """(`apiHost`, `protocol`) for a service reached at `public_url`: `host[:port][/prefix]/v1`, scheme."""
    parts = urlsplit(public_url)
    return f"{parts.netloc}{parts.path.rstrip('/')}/v1", parts.scheme


class SettingsRoute:
    """The settings endpoint for the configured write keys (none: any key) and public URL (None: derived)."""

    def __init__(self, write_keys: Iterable[str] = (), public_url: str | None = None) -> None:
        self._sources = frozenset(source_id(key) for key in write_keys if key)
        self._configured = api_host_of(public_url) if public_url else None

    def set_write_keys(self, write_keys: Iterable[str]) -> None:
        """Answer for these write keys from now on (a reload); none: any key."""
        self._sources = frozenset(source_id(key) for key in write_keys if key)

    def add_routes(self, app: web.Application) -> None:
        """Mount `GET /v1/projects/{writeKey}/settings` on `app`."""
        app.router.add_get(SETTINGS_PATH, self._settings)

    async def _settings(self, request: web.Request) -> web.Response:
        write_key = request.match_info["write_key"]
        if self._sources and source_id(write_key) not in self._sources:
            return _json(
                404,
                {"code": "unknown_write_key", "message": "no source with this write key is configured here"},
                _CACHE_DERIVED,
            )
        if self._configured is not None:
            api_host, protocol = self._configured
            return _json(200, settings_for(write_key, api_host, protocol), _CACHE_CONFIGURED)
        host = request.headers.get("Host", "")
        if not _HOST.fullmatch(host):
            return _json(
                400,
                {
                    "code": "unknown_public_url",
                    "message": "the Host header is missing or malformed, so the service cannot tell libraries"
                    " where to send; set server.public_url",
                },
                _CACHE_DERIVED,
            )
        forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        protocol = forwarded if forwarded in ("http", "https") else request.scheme
        return _json(200, settings_for(write_key, f"{host}/v1", protocol), _CACHE_DERIVED)
