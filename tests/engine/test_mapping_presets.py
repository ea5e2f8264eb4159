"""Segment's Gleap default mappings (reference 6.3, 6.4) resolved against Segment-shaped events."""

from __future__ import annotations

from typing import Any

import pytest

from gleap_actions.mapping import compile_mapping

IDENTIFY_PRESET = {
    "userId": {"@path": "$.userId"},
    "firstName": {"@path": "$.properties.first_name"},
    "lastName": {"@path": "$.properties.last_name"},
    "email": {"@path": "$.traits.email"},
    "phone": {"@path": "$.traits.phone"},
    "companyName": {"@path": "$.traits.company.name"},
    "companyId": {"@path": "$.traits.company.id"},
    "lang": {"@path": "$.context.locale"},
    "plan": {"@path": "$.traits.plan"},
    "lastPageView": {"@path": "$.context.page.url"},
    "lastActivity": {"@path": "$.timestamp"},
    "customAttributes": {"@path": "$.traits"},
}
TRACK_PRESET = {
    "eventName": {
        "@if": {"exists": {"@path": "$.event"}, "then": {"@path": "$.event"}, "else": {"@path": "$.name"}}
    },
    "type": {"@path": "$.type"},
    "pageUrl": {"@path": "$.context.page.url"},
    "date": {"@path": "$.timestamp"},
    "userId": {"@path": "$.userId"},
    "data": {"@path": "$.properties"},
}
CONTEXT = {"locale": "en-US", "page": {"url": "https://segment.com/academy/", "title": "Academy"}}
TS = "2024-01-02T03:04:05.000Z"


def test_identify_preset_on_segments_test_event() -> None:
    traits = {"name": "example user", "email": "user@example.com", "userId": "example-129394"}
    event = {"type": "identify", "userId": "user1234", "traits": traits, "timestamp": TS, "context": CONTEXT}
    result = compile_mapping(IDENTIFY_PRESET)(event)
    assert list(result) == ["userId", "email", "lang", "lastPageView", "lastActivity", "customAttributes"]
    assert result == {
        "userId": "user1234",
        "email": "user@example.com",
        "lang": "en-US",
        "lastPageView": "https://segment.com/academy/",
        "lastActivity": TS,
        "customAttributes": traits,
    }


def test_identify_preset_keeps_nulls_and_nested_company() -> None:
    traits = {"email": None, "company": {"id": 7, "name": "Acme"}, "plan": "pro", "phone": "+43 1"}
    event = {"type": "identify", "userId": "u", "traits": traits, "context": {}}
    assert compile_mapping(IDENTIFY_PRESET)(event) == {
        "userId": "u",
        "email": None,
        "phone": "+43 1",
        "companyName": "Acme",
        "companyId": 7,
        "plan": "pro",
        "customAttributes": traits,
    }


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            {"type": "track", "event": "Segment Test Event Name 3", "properties": {"a": 1, "b": "x"}},
            {"eventName": "Segment Test Event Name 3", "type": "track", "data": {"a": 1, "b": "x"}},
        ),
        (
            {"type": "page", "name": "Home", "properties": {}},
            {"eventName": "Home", "type": "page", "data": {}},
        ),
        ({"type": "track", "event": "", "name": "N"}, {"eventName": "", "type": "track"}),  # "" exists
        ({"type": "track", "event": None, "name": "N"}, {"eventName": "N", "type": "track"}),
        ({"type": "screen", "properties": None}, {"type": "screen", "data": None}),
    ],
)
def test_track_preset(event: dict[str, Any], expected: dict[str, Any]) -> None:
    event = {"userId": "user1234", "timestamp": TS, "context": CONTEXT, **event}
    result = compile_mapping(TRACK_PRESET)(event)
    assert result == {**expected, "pageUrl": "https://segment.com/academy/", "date": TS, "userId": "user1234"}
    assert list(result) == [key for key in TRACK_PRESET if key in result]  # the mapping's key order
