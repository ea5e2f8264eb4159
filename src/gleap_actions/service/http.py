"""The HTTP server's own defences: JSON errors without echoes, header deadlines and a connection cap.

aiohttp answers some requests before any handler runs: a malformed request line or an oversized header
gets a plain-text 400 quoting the first ~100 bytes of the offending line (an `Authorization` header: the
admin token in clear, a write key in base64), and the same text is logged with a traceback. `HTTPRunner`
serves the app with a request handler that answers those as JSON `{"code", "message"}` naming only the
kind of error, and logs one WARNING line without the message. `json_errors` does the same for errors raised
inside the app (unknown route, wrong method, body too large): every error answer is JSON.

Slow clients: a request's line and headers must arrive within `header_timeout` of its first byte (or of
the connection's opening), else the connection is closed. Over `max_connections`, a new connection makes
room by closing the one that has waited longest for a request head (a slow client's, most likely), or is
closed itself when every connection is busy with a request. Bodies have their own deadline where they
are read (`ingest.limits.read_body`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import orjson
from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_server import Server
from prometheus_client import CollectorRegistry, Counter, Gauge

log = logging.getLogger(__name__)

IDLE_TIMEOUT = 60.0  # an idle keep-alive connection is closed after this
# After an early answer (a body too slow or too large) the rest of the body is read and dropped for this
# long before closing, so the client sees the answer; aiohttp's 10 s would keep slow senders for longer.
LINGERING_TIME = 2.0


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """Deadlines (seconds) and the connection cap of the HTTP server."""

    header_timeout: float = 10.0
    max_connections: int = 4096


class ConnectionMetrics:
    """Open connections and the ones closed by these defences."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.open = Gauge(
            "gleap_actions_http_connections_open", "HTTP connections open now", registry=registry
        )
        self.closed = Counter(
            "gleap_actions_http_connections_closed",
            "HTTP connections closed by the server's defences, by reason",
            ["reason"],
            registry=registry,
        )
        for reason in ("header_timeout", "connection_cap", "bad_request"):
            self.closed.labels(reason)


# Stable codes for the statuses aiohttp answers by itself (Python renames some phrases between versions).
_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "body_too_large",
    414: "uri_too_long",
    431: "headers_too_large",
}


def _code(status: int) -> str:
    if status in _CODES:
        return _CODES[status]
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "http_error"


def error_body(status: int, message: str) -> bytes:
    """The JSON error document of the service."""
    return orjson.dumps({"code": _code(status), "message": message})


@web.middleware
async def json_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """aiohttp's own error answers (404, 405, 413...) as JSON `{"code", "message"}`."""
    try:
        response: web.StreamResponse = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")}
        return web.Response(
            status=exc.status,
            body=error_body(exc.status, _message(request, exc)),
            content_type="application/json",
            headers=headers,
        )
    return response


def _message(request: web.Request, exc: web.HTTPException) -> str:
    if isinstance(exc, web.HTTPNotFound):
        return f"no such endpoint: {request.method} {request.path[:200]}"
    if isinstance(exc, web.HTTPMethodNotAllowed):
        return f"{request.method} is not allowed here (use {', '.join(sorted(exc.allowed_methods))})"
    if exc.status == 413:
        return "the request body is too large"
    return exc.reason


class _Handler(RequestHandler):
    """aiohttp's request handler with the defences of this module."""

    def __init__(
        self,
        manager: Server,
        *,
        limits: ConnectionLimits,
        metrics: ConnectionMetrics,
        waiting: dict[_Handler, None],
        **kwargs: Any,
    ) -> None:
        super().__init__(manager, **kwargs)
        self._limits = limits
        self._metrics = metrics
        self._waiting = waiting  # the server's connections waiting for a head, oldest first
        self._head_timer: asyncio.TimerHandle | None = None
        self._counted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._counted = True
        self._metrics.open.inc()
        manager = self._manager
        if manager is not None and len(manager.connections) > self._limits.max_connections:
            # Make room by closing the connection that has waited longest for a request head (a slow
            # client's, most likely); when every connection is busy with a request, refuse this one.
            victim = next(iter(self._waiting), self)
            victim._close_now("connection_cap")
            if victim is self:
                return
        self._arm_head_timer()

    def _close_now(self, reason: str) -> None:
        self._disarm_head_timer()
        self._metrics.closed.labels(reason).inc()
        self.force_close()
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm_head_timer()
        if self._counted:
            self._counted = False
            self._metrics.open.dec()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        heads = self._request_count
        super().data_received(data)
        if self._request_count > heads:  # a request line and headers arrived (or a parse error)
            self._disarm_head_timer()
        elif not self._request_in_progress and not self._messages:
            self._arm_head_timer()  # the first bytes of the next request on a kept-alive connection

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self._loop.call_later(self._limits.header_timeout, self._head_too_slow)
            self._waiting[self] = None

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self._waiting.pop(self, None)

    def _head_too_slow(self) -> None:
        self._head_timer = None
        self._waiting.pop(self, None)
        if self._request_in_progress or self._messages or self.transport is None:
            return
        self._close_now("header_timeout")

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """A malformed request (or a handler's crash) answered as JSON without echoing what was sent."""
        if status == 500:
            log.error("event=request_failed path=%s", request.path, exc_info=exc)
            text = "the request could not be handled"
        else:
            # aiohttp's message quotes the offending bytes (maybe a secret header): name the kind only.
            self._metrics.closed.labels("bad_request").inc()
            log.warning("event=bad_http_request status=%d error=%s", status, type(exc).__name__)
            text = "the request line or headers are malformed or too large"
        if request.writer.output_size > 0:
            raise ConnectionError("the response was sent already: cannot send an error answer")
        response = web.Response(status=status, body=error_body(status, text), content_type="application/json")
        response.force_close()
        return response


class _Server(Server):
    def __init__(self, *args: Any, limits: ConnectionLimits, metrics: ConnectionMetrics, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._limits = limits
        self._metrics = metrics
        self._waiting: dict[_Handler, None] = {}

    def __call__(self) -> RequestHandler:
        return _Handler(
            self,
            loop=self._loop,
            limits=self._limits,
            metrics=self._metrics,
            waiting=self._waiting,
            **self._kwargs,
        )


class HTTPRunner(web.AppRunner):
    """`web.AppRunner` whose connections get this module's handler (see the module docstring)."""

    def __init__(
        self,
        app: web.Application,
        *,
        limits: ConnectionLimits,
        registry: CollectorRegistry,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("keepalive_timeout", IDLE_TIMEOUT)
        kwargs.setdefault("lingering_time", LINGERING_TIME)
        super().__init__(app, **kwargs)
        self._limits = limits
        self._connection_metrics = ConnectionMetrics(registry)

    async def _make_server(self) -> Server:
        plain = await super()._make_server()
        return _Server(
            plain.request_handler,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            loop=plain._loop,
            limits=self._limits,
            metrics=self._connection_metrics,
            **plain._kwargs,
        )
