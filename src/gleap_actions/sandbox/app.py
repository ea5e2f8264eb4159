"""The sandbox's HTTP routes: Gleap's `/admin/*` API behind fault injection, and the `/__sandbox/*`
inspection and control API.

Every Gleap API request goes through the same gate, in this order: outage, latency, timeout (held, no
answer), `Api-Token` check (401), rate limit (429 + `Retry-After`), injected error, body size (413),
then the endpoint's own validation (400) and effect. Each request is recorded with the answer it got.
"""

from __future__ import annotations

import asyncio
import hmac
import time
import urllib.parse
from collections.abc import Callable
from typing import Any, Protocol

import orjson
from aiohttp import web

from gleap_actions.sandbox.faults import Faults, FaultSpecError
from gleap_actions.sandbox.injector import FaultInjector
from gleap_actions.sandbox.state import REDACTED, SandboxState
from gleap_actions.sandbox.validation import identify_error, track_body_events, track_event_error

# aiohttp's own body limit, far above any `max_body_bytes` fault; beyond it aiohttp answers 413 itself.
CLIENT_MAX_SIZE = 64 * 1024 * 1024
_CONTACTS_PREFIX = "/admin/contacts/"

Answer = tuple[int, dict[str, Any]]


class Controls(Protocol):
    """What the control API needs from the sandbox that owns the server (faults change the listener)."""

    @property
    def faults(self) -> Faults:
        """The faults in force."""

    def set_faults(self, faults: Faults) -> Faults:
        """Put new faults in force."""

    def reset_faults(self) -> Faults:
        """Restore the faults the sandbox started with."""


def json_response(status: int, payload: object, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON response (orjson-encoded)."""
    return web.Response(
        body=orjson.dumps(payload), status=status, content_type="application/json", headers=headers
    )


def _parse_json(body: bytes) -> tuple[Any, str | None]:
    try:
        return orjson.loads(body), None
    except orjson.JSONDecodeError as exc:
        return None, f"invalid JSON: {exc}"


class SandboxRoutes:
    """The request handlers, bound to one sandbox's state, faults and token."""

    def __init__(
        self,
        state: SandboxState,
        injector: FaultInjector,
        api_token: str,
        controls: Controls,
    ) -> None:
        self._state = state
        self._injector = injector
        self._token = api_token.encode()
        self._controls = controls
        # Set when the sandbox stops, releasing held requests; replaced on every start.
        self.closing = asyncio.Event()

    def build_app(self) -> web.Application:
        """The aiohttp application with every route."""
        app = web.Application(client_max_size=CLIENT_MAX_SIZE)
        app.router.add_post("/admin/track", self._gleap("track", self._track))
        app.router.add_post("/admin/identify", self._gleap("identify", self._identify))
        app.router.add_get("/admin/auth", self._gleap("auth", self._auth))
        app.router.add_delete("/admin/contacts/{user_id:.+}", self._gleap("delete", self._delete))
        app.router.add_route("*", "/admin/{tail:.*}", self._gleap("other", self._not_found))
        app.router.add_get("/__sandbox/stats", self._stats)
        app.router.add_get("/__sandbox/requests", self._requests)
        app.router.add_get("/__sandbox/contacts", self._contacts)
        app.router.add_get("/__sandbox/contacts/{user_id:.+}/identifies", self._identifies)
        app.router.add_get("/__sandbox/contacts/{user_id:.+}", self._contact)
        app.router.add_get("/__sandbox/events", self._events)
        app.router.add_get("/__sandbox/duplicates", self._duplicates)
        app.router.add_post("/__sandbox/reset", self._reset)
        app.router.add_get("/__sandbox/faults", self._get_faults)
        app.router.add_post("/__sandbox/faults", self._post_faults)
        app.router.add_delete("/__sandbox/faults", self._delete_faults)
        return app

    # The Gleap API.

    def _gleap(
        self, endpoint: str, answer: Callable[[web.Request, bytes], Answer]
    ) -> Callable[[web.Request], Any]:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await self._serve(request, endpoint, answer)

        return handler

    async def _serve(
        self, request: web.Request, endpoint: str, answer: Callable[[web.Request, bytes], Answer]
    ) -> web.StreamResponse:
        injector = self._injector
        sent = request.headers.get("Api-Token")
        token_ok = sent is not None and hmac.compare_digest(sent.encode(), self._token)
        record = _Recorder(self._state, request, endpoint, token_ok)
        outage = injector.outage(time.monotonic())
        if outage == "refuse":
            record.record(None, "outage")
            return record.drop()
        body, oversized = await self._read_body(request)
        record.body = body
        if outage == "503":
            return record.answer(503, {"error": "Service unavailable (sandbox outage)"}, "outage")
        faults = injector.faults
        if faults.latency:
            await asyncio.sleep(faults.latency)
        if injector.hold():
            record.record(None, "timeout")
            await self._hold(request)
            return record.drop()
        if not token_ok:
            return record.answer(401, {"error": "Invalid or missing Api-Token"})
        retry_after = injector.retry_after(endpoint, time.monotonic())
        if retry_after is not None:
            payload = {"error": "Too many requests", "retryAfter": retry_after}
            return record.answer(429, payload, "rate_limit", {"Retry-After": str(retry_after)})
        error_status = injector.error_status()
        if error_status is not None:
            return record.answer(error_status, {"error": f"Injected error {error_status}"}, "error")
        if oversized or injector.body_too_large(len(body)):
            return record.answer(413, {"error": "Request body too large"}, "max_body_bytes")
        status, payload = answer(request, body)
        fault = "max_batch" if status == 413 else None
        return record.answer(status, payload, fault)

    async def _read_body(self, request: web.Request) -> tuple[bytes, bool]:
        """The body, or (b"", True) when it is too large to be worth reading."""
        length = request.content_length
        if length is not None and self._injector.body_too_large(length):
            return b"", True
        try:
            return await request.read(), False
        except web.HTTPRequestEntityTooLarge:
            return b"", True

    async def _hold(self, request: web.Request) -> None:
        """Wait, answering nothing, until the client gives up or the sandbox stops."""
        while not self.closing.is_set():
            transport = request.transport
            if transport is None or transport.is_closing():
                return
            try:
                await asyncio.wait_for(self.closing.wait(), 0.25)
            except TimeoutError:
                continue

    def _track(self, request: web.Request, body: bytes) -> Answer:
        parsed, error = _parse_json(body)
        events = track_body_events(parsed) if error is None else error
        if isinstance(events, str):
            return 400, {"error": events}
        for event in events:
            refused = self._user_error(event)
            if refused is not None:
                return refused
        if self._injector.batch_too_large(len(events)):
            limit = self._injector.faults.max_batch
            return 413, {"error": f"Too many events in one request: {len(events)} > {limit}"}
        for index, event in enumerate(events):
            problem = track_event_error(event)
            if problem:
                return 400, {"error": f"events[{index}]: {problem}", "index": index}
        self._state.add_events(events)
        return 200, {"success": True}

    def _identify(self, request: web.Request, body: bytes) -> Answer:
        parsed, error = _parse_json(body)
        error = error or identify_error(parsed)
        if error:
            return 400, {"error": error}
        refused = self._user_error(parsed)
        if refused is not None:
            return refused
        self._state.identify(parsed["userId"], parsed, body)
        return 200, {"success": True}

    def _user_error(self, item: object) -> Answer | None:
        """The answer the `user_errors` fault gives to a contact or event of a refused user, if any."""
        user_errors = self._injector.faults.user_errors
        user = item.get("userId") if isinstance(item, dict) else None
        if not user_errors or not isinstance(user, str) or user not in user_errors:
            return None
        return user_errors[user], {"error": f"Injected error for user {user!r}"}

    def _auth(self, request: web.Request, body: bytes) -> Answer:
        return 200, {"success": True}

    def _delete(self, request: web.Request, body: bytes) -> Answer:
        # The raw path, so a percent-encoded "/" in the user id stays part of it.
        user_id = urllib.parse.unquote(request.raw_path.split("?", 1)[0][len(_CONTACTS_PREFIX) :])
        if self._state.delete_contact(user_id):
            return 200, {"success": True}
        return 404, {"error": "Contact not found"}

    def _not_found(self, request: web.Request, body: bytes) -> Answer:
        return 404, {"error": f"Not found: {request.method} {request.path}"}

    # The inspection and control API.

    async def _stats(self, request: web.Request) -> web.Response:
        return json_response(200, self._state.stats().to_json())

    async def _requests(self, request: web.Request) -> web.Response:
        limit = _int_param(request, "limit", 100)
        endpoint = request.query.get("endpoint")
        logged = self._state.requests(limit=limit, endpoint=endpoint)
        stats = self._state.stats()
        return json_response(
            200,
            {
                "total": stats.requests,
                "by_endpoint": stats.requests_by_endpoint,
                "by_status": stats.requests_by_status,
                "requests": [r.to_json() for r in logged],
            },
        )

    async def _contacts(self, request: web.Request) -> web.Response:
        contacts = self._state.contacts()
        counts = self._state.identify_counts()
        return json_response(200, {"count": len(contacts), "contacts": contacts, "identifies": counts})

    async def _identifies(self, request: web.Request) -> web.Response:
        identifies = self._state.identifies(request.match_info["user_id"])
        return json_response(200, {"count": len(identifies), "identifies": identifies})

    async def _contact(self, request: web.Request) -> web.Response:
        contact = self._state.contact(request.match_info["user_id"])
        if contact is None:
            return json_response(404, {"error": "Contact not found"})
        return json_response(200, contact)

    async def _events(self, request: web.Request) -> web.Response:
        user_id = request.query.get("userId")
        limit = _int_param(request, "limit", 1000)
        events = self._state.events(user_id=user_id, limit=limit)
        return json_response(200, {**self._state.event_figures(user_id), "events": events})

    async def _duplicates(self, request: web.Request) -> web.Response:
        repeated = self._state.duplicates()
        return json_response(
            200,
            {
                "duplicates": self._state.duplicate_count(),
                "events": [{"event": event, "count": count} for event, count in repeated],
            },
        )

    async def _reset(self, request: web.Request) -> web.Response:
        self._state.reset()
        return json_response(200, {"success": True})

    async def _get_faults(self, request: web.Request) -> web.Response:
        return json_response(200, self._controls.faults.to_json())

    async def _post_faults(self, request: web.Request) -> web.Response:
        parsed, error = _parse_json(await request.read())
        if error:
            return json_response(400, {"error": error})
        try:
            faults = Faults.from_json(parsed, base=self._controls.faults)
        except FaultSpecError as exc:
            return json_response(400, {"error": str(exc), "errors": exc.errors})
        return json_response(200, self._controls.set_faults(faults).to_json())

    async def _delete_faults(self, request: web.Request) -> web.Response:
        return json_response(200, self._controls.reset_faults().to_json())


def _int_param(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.isdigit():
        raise web.HTTPBadRequest(
            text=orjson.dumps({"error": f"{name} must be a non-negative integer"}).decode(),
            content_type="application/json",
        )
    return int(raw)


class _Recorder:
    """Records one Gleap API request in the state together with the answer it gets."""

    def __init__(self, state: SandboxState, request: web.Request, endpoint: str, token_ok: bool) -> None:
        self._state = state
        self._request = request
        self._endpoint = endpoint
        self._token_ok = token_ok
        self.body = b""

    def record(self, status: int | None, fault: str | None) -> None:
        """Record the request with its answer (None: no answer)."""
        request = self._request
        headers = {str(k): (REDACTED if k.lower() == "api-token" else v) for k, v in request.headers.items()}
        self._state.record_request(
            time=time.time(),
            method=request.method,
            path=request.path_qs,
            endpoint=self._endpoint,
            status=status,
            fault=fault,
            token_ok=self._token_ok,
            headers=headers,
            body=self.body,
        )

    def answer(
        self,
        status: int,
        payload: dict[str, Any],
        fault: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        """Record and build the answer."""
        self.record(status, fault)
        return json_response(status, payload, headers)

    def drop(self) -> web.StreamResponse:
        """Drop the connection without answering (the returned response is never sent)."""
        transport = self._request.transport
        if transport is not None:
            transport.abort()
        return web.Response(status=503)
