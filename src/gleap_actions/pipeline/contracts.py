"""What delivery needs from the destination, as structural types.

The pipeline is destination-agnostic: it consumes `engine.subscription.Subscription` (plan requests),
`engine.action` values (requests, rejections) and `gleap.client.send` through these shapes only, as
fixed in docs/architecture.md, so it can be read and tested without the Gleap specifics.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, Protocol

import aiohttp


class RequestLike(Protocol):
    """`engine.action.Request`."""

    @property
    def method(self) -> str: ...

    @property
    def url(self) -> str: ...

    def redacted(self) -> RequestLike:
        """The request with secrets as `***`."""
        ...

    def to_json(self) -> str:
        """The request as JSON (for dead letters and previews)."""
        ...


class PlannedRequestLike(Protocol):
    """`engine.action.PlannedRequest`: a request and the indices of the events it carries."""

    @property
    def request(self) -> RequestLike: ...

    @property
    def indices(self) -> Sequence[int]: ...


class RejectionLike(Protocol):
    """`engine.action.Rejection`: an event the action refused (payload validation), final."""

    @property
    def index(self) -> int: ...

    @property
    def status(self) -> int: ...

    @property
    def code(self) -> str: ...

    @property
    def message(self) -> str: ...


class PlanLike(Protocol):
    """`engine.action.Plan`: every event lands in one request's indices or in rejections."""

    @property
    def requests(self) -> Sequence[PlannedRequestLike]: ...

    @property
    def rejections(self) -> Sequence[RejectionLike]: ...


class SubscriptionLike(Protocol):
    """`engine.subscription.Subscription`: one configured mapping."""

    @property
    def name(self) -> str: ...

    @property
    def enabled(self) -> bool: ...

    @property
    def batching(self) -> bool: ...

    @property
    def batch_size(self) -> int: ...

    def matches(self, event: Mapping[str, Any]) -> bool:
        """The trigger."""
        ...

    def plan(self, events: Sequence[dict[str, Any]], settings: Any, batch: bool) -> PlanLike:
        """Map, validate and build requests."""
        ...


class SettingsLike(Protocol):
    """`gleap.settings.GleapSettings`, as far as delivery reads it."""

    @property
    def timeout(self) -> float: ...


class ResponseLike(Protocol):
    """`gleap.client.Response` of a 2xx."""

    @property
    def status(self) -> int: ...


class SendFn(Protocol):
    """`gleap.client.send`: returns on 2xx, raises the `engine.errors` delivery taxonomy otherwise."""

    def __call__(
        self, session: aiohttp.ClientSession, request: Any, timeout: float
    ) -> Awaitable[ResponseLike]: ...
