"""Building Segment events for audience tests: every event is placed relative to one fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from gleap_actions.audiences import compile_definition

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def track(
    name: str, ago: timedelta = timedelta(0), *, user: str | None = "u1", **properties: Any
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "track",
        "event": name,
        "timestamp": iso(NOW - ago),
        "properties": properties,
    }
    if user is not None:
        event["userId"] = user
    else:
        event["anonymousId"] = "anon-1"
    return event


def identify(ago: timedelta = timedelta(0), *, user: str | None = "u1", **traits: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "identify", "timestamp": iso(NOW - ago), "traits": traits}
    event["userId" if user is not None else "anonymousId"] = user or "anon-1"
    return event


def evaluate(text: str, events: list[dict[str, Any]], *, kind: str = "audience", now: datetime = NOW) -> Any:
    definition = compile_definition(text, kind=kind)  # type: ignore[arg-type]
    return definition.evaluate(events, now)


def value(text: str, events: list[dict[str, Any]], now: datetime = NOW) -> Any:
    return evaluate(text, events, kind="computed_trait", now=now)
