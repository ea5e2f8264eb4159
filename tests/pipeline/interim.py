"""Interim stand-ins for parts built in parallel (Subscription, gleap client), used by the pipeline
tests only until those land in main; then the tests switch to the real ones."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from gleap_actions.engine.errors import FinalHTTPError, InvalidCredentialsError, RetryableError


@dataclass(frozen=True)
class Req:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None

    def redacted(self) -> Req:
        return Req(self.method, self.url, {**self.headers, "Api-Token": "***"}, self.body)

    def to_json(self) -> str:
        body = None if self.body is None else orjson.loads(self.body)
        return orjson.dumps(
            {"method": self.method, "url": self.url, "headers": self.headers, "body": body}
        ).decode()


@dataclass(frozen=True)
class PReq:
    request: Req
    indices: list[int]


@dataclass(frozen=True)
class Rej:
    index: int
    status: int
    code: str
    message: str


@dataclass(frozen=True)
class PlanV:
    requests: list[PReq]
    rejections: list[Rej]


@dataclass(frozen=True)
class Settings:
    api_token: str
    base_url: str
    timeout: float = 2.0


@dataclass(frozen=True)
class TrackSub:
    """Track events to POST /admin/track; events without `event` are rejected."""

    name: str = "Track Event"
    enabled: bool = True
    batching: bool = True
    batch_size: int = 100

    def matches(self, event: Mapping[str, Any]) -> bool:
        return event.get("type") == "track"

    def plan(self, events: Sequence[dict[str, Any]], settings: Settings, batch: bool) -> PlanV:
        good = []
        rejections = []
        for i, e in enumerate(events):
            if not e.get("event"):
                rejections.append(
                    Rej(i, 400, "PAYLOAD_VALIDATION_FAILED", "The root value is missing 'name'.")
                )
            else:
                good.append(i)
        headers = {"Api-Token": settings.api_token, "Content-Type": "application/json"}
        url = settings.base_url + "/admin/track"

        def req(idx: list[int]) -> PReq:
            body = [{"name": events[i]["event"], "userId": events[i].get("userId")} for i in idx]
            return PReq(Req("POST", url, headers, orjson.dumps({"events": body})), idx)

        size = self.batch_size if batch else 1
        return PlanV([req(good[k : k + size]) for k in range(0, len(good), size)], rejections)


@dataclass(frozen=True)
class Resp:
    status: int
    body: bytes


async def send(session: aiohttp.ClientSession, request: Any, timeout: float) -> Resp:
    try:
        async with session.request(
            request.method,
            request.url,
            headers=request.headers,
            data=request.body,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as r:
            body = await r.read()
    except (aiohttp.ClientError, TimeoutError) as err:
        raise RetryableError(f"network error: {type(err).__name__}") from err
    if 200 <= r.status < 300:
        return Resp(r.status, body)
    if r.status in (401, 403):
        raise InvalidCredentialsError("invalid credentials", status=r.status)
    if r.status in (408, 423, 429) or (r.status >= 500 and r.status != 501):
        ra = r.headers.get("Retry-After")
        raise RetryableError(f"status {r.status}", status=r.status, retry_after=float(ra) if ra else None)
    raise FinalHTTPError(f"status {r.status}", status=r.status, body=body.decode())
