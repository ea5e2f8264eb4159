"""Shared test data for the sandbox tests."""

from __future__ import annotations

TOKEN = "test-token"


def event(user_id: str = "u1", name: str = "signup", **extra: object) -> dict[str, object]:
    """A valid Gleap track event."""
    return {
        "name": name,
        "date": "2024-05-17T10:44:00.000Z",
        "data": {"plan": "pro"},
        "userId": user_id,
        **extra,
    }
