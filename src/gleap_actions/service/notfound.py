"""404 and 405 on the JSON APIs (`/v1/*`, `/admin/*`) answer `{"code", "message"}` like every other error."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

_JSON_PREFIXES = ("/v1/", "/admin/")


@web.middleware
async def json_not_found(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn aiohttp's plain-text 404/405 under the JSON APIs into JSON errors."""
    try:
        return await handler(request)
    except web.HTTPMethodNotAllowed as exc:
        if not request.path.startswith(_JSON_PREFIXES):
            raise
        allowed = ", ".join(sorted(exc.allowed_methods))
        message = f"{request.method} is not allowed here (use {allowed})"
        return web.json_response(
            {"code": "method_not_allowed", "message": message},
            status=405,
            headers={"Allow": ",".join(sorted(exc.allowed_methods))},
        )
    except web.HTTPNotFound:
        if not request.path.startswith(_JSON_PREFIXES):
            raise
        return web.json_response(
            {"code": "not_found", "message": f"no such endpoint: {request.method} {request.path[:200]}"},
            status=404,
        )
