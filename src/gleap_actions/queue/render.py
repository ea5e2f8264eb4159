"""The queue's values as JSON, as the admin API answers and the `dlq` command prints them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from gleap_actions.queue.store import DeadLetter


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json_or_text(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def dead_letter_json(letter: DeadLetter, *, full: bool) -> dict[str, Any]:
    """A dead letter as JSON; `full` adds the request, response and event."""
    out: dict[str, Any] = {
        "id": letter.id,
        "event_id": letter.event_id,
        "destination": letter.destination,
        "mapping": letter.mapping,
        "reason": letter.reason,
        "status": letter.status,
        "attempts": letter.attempts,
        "created_at": _iso(letter.created_at),
    }
    if full:
        out["request"] = _json_or_text(letter.request)
        out["response"] = _json_or_text(letter.response)
        out["event"] = orjson.loads(letter.payload)
    return out
