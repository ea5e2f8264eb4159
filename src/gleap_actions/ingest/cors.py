"""CORS: browsers may call the tracking API (`/v1/*`) from other origins; the admin API never answers them.

analytics.js posts JSON as `text/plain` with `Authorization` (and `X-Retry-Count` on retries), so each call
from a page on another origin is preceded by an `OPTIONS` preflight. Browser write keys are public, as in
Segment, so any origin is allowed by default; `server.cors_origins` narrows that. A request from an origin
not allowed gets 403 before it is handled (a `sendBeacon` needs no preflight, so the check cannot be left
to the browser). `Retry-After` is exposed so the libraries can honour a 429.

Errors are JSON `{"code", "message"}` like the rest of the API: a malformed preflight (no `Origin`, no
`Access-Control-Request-Method`, a method or header the endpoint does not take) gets 400 saying which.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from gleap_actions.config.origins import ANY_ORIGIN, normalize_origin

TRACKING_PREFIX = "/v1/"
ADMIN_PREFIX = "/admin"
ALLOWED_HEADERS = ("Authorization", "Content-Encoding", "Content-Type", "X-Retry-Count")
_ALLOWED_LOWER = frozenset(name.lower() for name in ALLOWED_HEADERS)
EXPOSED_HEADERS = "Retry-After"
MAX_AGE = "7200"  # Chromium caches a preflight at most 2 hours


def _error(status: int, code: str, message: str) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps({"code": code, "message": message}), content_type="application/json"
    )


class CorsPolicy:
    """The origins allowed on the tracking API: `*` (any) or exact origins."""

    def __init__(self, origins: Iterable[str] = (ANY_ORIGIN,)) -> None:
        self._any = ANY_ORIGIN in origins
        self._origins = frozenset(origins)

    def allow_origin(self, origin: str) -> str | None:
        """The `Access-Control-Allow-Origin` value for a request from `origin`, or None if not allowed."""
        if self._any:
            return ANY_ORIGIN
        return origin if normalize_origin(origin) in self._origins else None

    def headers(self, allowed: str) -> dict[str, str]:
        """The CORS headers of an answer to an allowed origin."""
        headers = {"Access-Control-Allow-Origin": allowed, "Access-Control-Expose-Headers": EXPOSED_HEADERS}
        if not self._any:
            headers["Vary"] = "Origin"  # the answer depends on the Origin: shared caches must know
        return headers


def cors_middleware(policy: CorsPolicy) -> Middleware:
    """The middleware answering preflights and adding CORS headers on `/v1/*`, refusing them on `/admin`."""

    @web.middleware
    async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
            if request.method == "OPTIONS" or _cross_origin(request):
                return _error(
                    403, "cross_origin_refused", "the admin API does not answer cross-origin requests"
                )
            return await handler(request)
        if not path.startswith(TRACKING_PREFIX):
            return await handler(request)
        origin = request.headers.get("Origin")
        if request.method == "OPTIONS":
            return _preflight(request, policy, origin)
        if origin is None:  # not a browser: server libraries, curl
            return await handler(request)
        allowed = policy.allow_origin(origin)
        if allowed is None:
            return _error(403, "origin_not_allowed", f"origin {origin[:100]!r} is not in server.cors_origins")
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # aiohttp's own 404/405 answers: readable by the page too
            exc.headers.update(policy.headers(allowed))
            raise
        response.headers.update(policy.headers(allowed))
        return response

    return cors


def _cross_origin(request: web.Request) -> bool:
    """Whether a browser sent the request from a page of another origin (by host and port)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    return urlsplit(origin).netloc.lower() != request.host.lower()


def _preflight(request: web.Request, policy: CorsPolicy, origin: str | None) -> web.Response:
    """The answer to an `OPTIONS` request on the tracking API."""
    where = request.path[:200]
    if origin is None:
        return _error(
            400, "invalid_preflight", f"OPTIONS {where}: a CORS preflight must carry an Origin header"
        )
    method = request.headers.get("Access-Control-Request-Method", "").strip().upper()
    if not method:
        return _error(
            400,
            "invalid_preflight",
            f"OPTIONS {where}: a CORS preflight must carry an Access-Control-Request-Method header",
        )
    allowed = policy.allow_origin(origin)
    if allowed is None:
        return _error(403, "origin_not_allowed", f"origin {origin[:100]!r} is not in server.cors_origins")
    methods = _methods(request)
    if not methods:
        return _error(404, "not_found", f"no endpoint at {where}")
    if method not in methods:
        return _error(
            400,
            "invalid_preflight",
            f"OPTIONS {where}: method {method[:20]} is not allowed here"
            f" (allowed: {', '.join(sorted(methods))})",
        )
    requested = request.headers.get("Access-Control-Request-Headers", "")
    unknown = sorted({h.strip().lower() for h in requested.split(",") if h.strip()} - _ALLOWED_LOWER)
    if unknown:
        return _error(
            400,
            "invalid_preflight",
            f"OPTIONS {where}: header {', '.join(unknown)[:100]} is not allowed"
            f" (allowed: {', '.join(ALLOWED_HEADERS)})",
        )
    headers = policy.headers(allowed)
    headers.update(
        {
            "Access-Control-Allow-Methods": ", ".join(sorted(methods)),
            "Access-Control-Allow-Headers": ", ".join(ALLOWED_HEADERS),
            "Access-Control-Max-Age": MAX_AGE,
        }
    )
    return web.Response(status=204, headers=headers)


def _methods(request: web.Request) -> set[str]:
    """The methods the route at the request's path takes (empty when there is none)."""
    error = request.match_info.http_exception
    if isinstance(error, web.HTTPMethodNotAllowed):
        return set(error.allowed_methods) - {"HEAD"}
    return set()
