"""Validation of Gleap API bodies, the way Gleap rejects them: each function returns an error message
for a 400, or None when the body is acceptable."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def _is_iso_date(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _missing_string(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None or value == "":
        return f"{key} is required"
    if not isinstance(value, str):
        return f"{key} must be a string"
    return None


def track_event_error(event: object) -> str | None:
    """Why a `/admin/track` event is invalid: it must be an object with a non-empty string `userId` and
    `name`, an ISO 8601 `date` string if present, and an object `data` if present."""
    if not isinstance(event, dict):
        return "must be an object"
    for key in ("userId", "name"):
        error = _missing_string(event, key)
        if error:
            return error
    if "date" in event and not _is_iso_date(event["date"]):
        return f"date must be an ISO 8601 date string, got {event['date']!r}"
    if "data" in event and not isinstance(event["data"], dict):
        return "data must be an object"
    return None


def track_body_events(body: object) -> list[Any] | str:
    """The `events` array of a `/admin/track` body, or why the body is invalid."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    events = body.get("events")
    if not isinstance(events, list):
        return "events must be an array"
    return events


def identify_error(body: object) -> str | None:
    """Why an `/admin/identify` body is invalid: it must be an object with a non-empty string
    `userId`, and `createdAt` must be an ISO 8601 date string if present."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    error = _missing_string(body, "userId")
    if error:
        return error
    if "createdAt" in body and not _is_iso_date(body["createdAt"]):
        return f"createdAt must be an ISO 8601 date string, got {body['createdAt']!r}"
    return None
