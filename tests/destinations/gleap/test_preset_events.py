"""Segment events through the presets (compiled triggers and mappings) to exact Gleap requests."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gleap_actions.destinations.gleap.actions import ACTIONS
from gleap_actions.destinations.gleap.presets import PRESETS
from gleap_actions.destinations.gleap.settings import GleapSettings
from gleap_actions.engine.subscription import Subscription

SETTINGS = GleapSettings(api_token="tok", base_url="http://127.0.0.1:9")


def _preset(name: str) -> Subscription:
    preset = next(p for p in PRESETS if p["name"] == name)
    return Subscription.compile(
        preset["name"], ACTIONS[preset["action"]], preset["trigger"], preset["mapping"], preset["enabled"]
    )


TRACK = _preset("Track Event")
IDENTIFY = _preset("Identify Contact")
NORMALISED = _preset("Track Event (normalised event names)")


def _event(**overrides: Any) -> dict[str, Any]:
    """Segment's test event (createTestEvent) with fixed ids and time."""
    event: dict[str, Any] = {
        "anonymousId": "anonId1234",
        "userId": "user1234",
        "event": "Test Event",
        "type": "track",
        "messageId": "m-1",
        "properties": {},
        "traits": {},
        "timestamp": "2024-01-02T03:04:05.000Z",
        "context": {
            "ip": "8.8.8.8",
            "library": {"name": "analytics.js", "version": "2.11.1"},
            "locale": "en-US",
            "page": {
                "path": "/academy/",
                "referrer": "",
                "search": "",
                "title": "Analytics Academy",
                "url": "https://segment.com/academy/",
            },
        },
    }
    event.update(overrides)
    return event


def _single(subscription: Subscription, event: dict[str, Any]) -> bytes:
    assert subscription.matches(event)
    plan = subscription.plan([event], SETTINGS, batch=False)
    assert not plan.rejections, plan.rejections
    [planned] = plan.requests
    assert planned.indices == [0]
    assert planned.request.body is not None
    return planned.request.body


def _rejected(subscription: Subscription, event: dict[str, Any], batch: bool = False) -> str:
    plan = subscription.plan([event], SETTINGS, batch=batch)
    assert not plan.requests
    [rejection] = plan.rejections
    assert (rejection.index, rejection.status, rejection.code) == (0, 400, "PAYLOAD_VALIDATION_FAILED")
    return rejection.message


def test_track() -> None:
    event = _event(event="Segment Test Event Name 3", properties={"a": 1, "b": "x"})
    body = _single(TRACK, event)
    assert body == (
        b'{"events":[{"name":"Segment Test Event Name 3","date":"2024-01-02T03:04:05.000Z",'
        b'"data":{"a":1,"b":"x"},"userId":"user1234"}]}'
    )
    planned = TRACK.plan([event], SETTINGS, batch=False).requests[0].request
    assert (planned.method, planned.url) == ("POST", "http://127.0.0.1:9/admin/track")
    assert planned.headers["Api-Token"] == "tok"


def test_page_and_screen() -> None:
    page = _event(type="page", name="Home", properties={"title": "Home"})
    del page["event"]
    assert _single(TRACK, page) == (
        b'{"events":[{"name":"pageView","date":"2024-01-02T03:04:05.000Z",'
        b'"data":{"page":"https://segment.com/academy/"},"userId":"user1234"}]}'
    )
    del page["context"]["page"]
    assert b'"data":{"page":"Home"}' in _single(TRACK, page)
    screen = _event(type="screen", name="Home Screen")
    del screen["event"]
    assert _single(TRACK, screen) == (
        b'{"events":[{"name":"pageView","date":"2024-01-02T03:04:05.000Z",'
        b'"data":{"page":"Home Screen"},"userId":"user1234"}]}'
    )


def test_relative_page_url_never_rejects() -> None:
    event = _event(context={"page": {"url": "/relative größe"}})
    assert b'"name":"Test Event"' in _single(TRACK, event)
    page = _event(type="page", name="P", context={"page": {"url": "/relative größe"}})
    assert '"data":{"page":"/relative größe"}'.encode() in _single(TRACK, page)


def test_names_verbatim_and_numeric_timestamp_as_iso() -> None:
    body = _single(TRACK, _event(event="A.b$c", timestamp=1700000000))
    assert b'"name":"A.b$c","date":"2023-11-14T22:13:20.000Z"' in body


def test_normalised_names_preset() -> None:
    body = _single(NORMALISED, _event(event="app.$session.start"))
    assert b'"name":"app--session-start"' in body


def test_empty_event_name_same_on_both_paths() -> None:
    event = _event(event="", name="N")
    single = _single(TRACK, event)
    batch = TRACK.plan([event], SETTINGS, batch=True).requests[0].request.body
    assert single == batch
    assert b'"name"' not in single


@pytest.mark.parametrize("user_id", [None, ""])
def test_missing_user_id_rejected_on_both_paths(user_id: Any) -> None:
    for batch in (False, True):
        event = _event(userId=user_id)
        assert _rejected(TRACK, event, batch) == "The root value is missing the required field 'userId'."


def test_batch_keeps_order_and_reports_bad_events() -> None:
    events = [
        _event(event="One"),
        _event(userId=None),
        _event(type="page", name="Home"),
        _event(timestamp="abc 2024"),
        _event(event="Two", properties=None),
    ]
    plan = TRACK.plan(events, SETTINGS, batch=True)
    [planned] = plan.requests
    assert planned.indices == [0, 2, 4]
    assert [e["name"] for e in orjson.loads(planned.request.body or b"")["events"]] == [
        "One",
        "pageView",
        "Two",
    ]
    assert [r.index for r in plan.rejections] == [1, 3]


def test_triggers() -> None:
    for kind in ("track", "page", "screen"):
        assert TRACK.matches(_event(type=kind))
    for kind in ("identify", "group", "alias", "TRACK"):
        assert not TRACK.matches(_event(type=kind))
    assert IDENTIFY.matches(_event(type="identify"))
    assert not IDENTIFY.matches(_event(type="track"))


def _identify(**overrides: Any) -> dict[str, Any]:
    event = _event(type="identify", **overrides)
    del event["event"]
    return event


def test_identify_default_mapping() -> None:
    event = _identify(
        traits={"name": "example user", "email": "user@example.com", "userId": "example-129394"}
    )
    assert _single(IDENTIFY, event) == (
        b'{"userId":"user1234","email":"user@example.com","lang":"en-US",'
        b'"lastActivity":"2024-01-02T03:04:05.000Z","name":"example user",'
        b'"lastPageView":{"page":"https://segment.com/academy/","date":"2024-01-02T03:04:05.000Z"}}'
    )


def test_identify_full_traits() -> None:
    traits = {
        "email": "jane.doe@example.com",
        "phone": "+43 660 1234567",
        "plan": "enterprise",
        "company": {"name": "Acme GmbH", "id": "acme-1", "employees": 250},
        "first_name": "Jane",
        "last_name": "Doe",
        "name": "Jane Doe",
        "logins": 42,
        "beta": True,
        "createdAt": "2020-01-01T00:00:00Z",
    }
    event = _identify(
        userId="user-0044",
        traits=traits,
        timestamp="2024-05-17T10:44:00.000Z",
        context={"locale": "de-AT", "page": {"url": "https://app.example.com/dashboard"}},
    )
    assert _single(IDENTIFY, event) == (
        b'{"userId":"user-0044","email":"jane.doe@example.com","phone":"+43 660 1234567",'
        b'"companyName":"Acme GmbH","companyId":"acme-1","lang":"de-AT","plan":"enterprise",'
        b'"lastActivity":"2024-05-17T10:44:00.000Z",'
        b'"company":{"name":"Acme GmbH","id":"acme-1","employees":250},'
        b'"first_name":"Jane","last_name":"Doe","name":"Jane Doe","logins":42,"beta":true,'
        b'"lastPageView":{"page":"https://app.example.com/dashboard","date":"2024-05-17T10:44:00.000Z"}}'
    )


def test_identify_name_from_properties() -> None:
    event = _identify(properties={"first_name": "Solo"}, traits={})
    assert _single(IDENTIFY, event).startswith(b'{"name":"Solo","userId":"user1234"')


def test_engage_audience_identify() -> None:
    event = _identify(
        traits={"email": "a@example.com", "order_completed_last_30days": True},
        context={
            "personas": {
                "computation_class": "audience",
                "computation_id": "aud_1",
                "computation_key": "order_completed_last_30days",
                "namespace": "spa_1",
                "space_id": "spa_1",
            }
        },
        integrations={"All": False, "Gleap (Action)": True},
    )
    assert _single(IDENTIFY, event) == (
        b'{"userId":"user1234","email":"a@example.com","lastActivity":"2024-01-02T03:04:05.000Z",'
        b'"order_completed_last_30days":true}'
    )
    event["traits"]["order_completed_last_30days"] = False
    assert b'"order_completed_last_30days":false' in _single(IDENTIFY, event)


def test_identify_rejections_and_no_batch() -> None:
    assert (
        _rejected(IDENTIFY, _identify(userId=None))
        == "The root value is missing the required field 'userId'."
    )
    assert (
        _rejected(IDENTIFY, _identify(traits={"email": "nope"}))
        == "Email Address must be a valid email address string but it was not."
    )
    plan = IDENTIFY.plan([_identify(), _identify(userId="b")], SETTINGS, batch=True)
    assert [p.indices for p in plan.requests] == [[0], [1]]
