"""A change of an audience or computed trait as the identify call Segment Engage sends for it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

SPACE_ID = "spa_gleap_actions"  # the "Engage space" of every computation of this service
SOURCE = "audiences"  # the queue source of these identify calls (dedup is per source)
_CLASSES = {"audience": "audience", "computed_trait": "trait"}


def engage_identify(
    *,
    user_id: str,
    anonymous_id: str | None,
    kind: str,
    key: str,
    computation_id: str,
    value: Any,
    email: object,
    now: float,
) -> dict[str, Any]:
    """The identify of `key` becoming `value` for this user at `now` (Unix seconds)."""
    stamp = datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    traits: dict[str, Any] = {key: value}
    if isinstance(email, str) and email:
        traits["email"] = email
    event: dict[str, Any] = {
        "type": "identify",
        "userId": user_id,
        "messageId": f"personas_{uuid.uuid4().hex}",
        "timestamp": stamp,
        "originalTimestamp": stamp,
        "receivedAt": stamp,
        "sentAt": None,
        "context": {
            "library": {"name": "unknown", "version": "unknown"},
            "integrations": {"personas": False},
            "personas": {
                "computation_class": _CLASSES[kind],
                "computation_id": computation_id,
                "computation_key": key,
                "namespace": SPACE_ID,
                "space_id": SPACE_ID,
            },
        },
        "integrations": {"All": False, "Gleap (Action)": True},
        "traits": traits,
    }
    if anonymous_id:
        event["anonymousId"] = anonymous_id
    return event


def is_engage(event: dict[str, Any]) -> bool:
    """Whether `event` is one of these identify calls (the computer skips its own output)."""
    context = event.get("context")
    return isinstance(context, dict) and isinstance(context.get("personas"), dict)
