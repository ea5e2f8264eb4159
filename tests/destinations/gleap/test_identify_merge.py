"""Identify coalescing: the merged request of one user's identifies leaves the contact as sending them one
by one, in order, does (Gleap's update rule, as the sandbox applies it), and planning merges only
consecutive valid identifies of one user, per-event rejections kept apart."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gleap_actions.destinations.gleap.actions import IDENTIFY_CONTACT, TRACK_EVENT
from gleap_actions.destinations.gleap.settings import GleapSettings
from gleap_actions.engine.subscription import Subscription
from gleap_actions.sandbox import SandboxState

SETTINGS = GleapSettings(api_token="tok")
IDENTIFY = Subscription.compile("Identify Contact", IDENTIFY_CONTACT)


def identify(user: str, at: str, traits: dict[str, Any], **context: Any) -> dict[str, Any]:
    return {
        "type": "identify",
        "userId": user,
        "timestamp": at,
        "traits": traits,
        "context": context,
        "messageId": f"{user}-{at}",
    }


def one_by_one(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The contact after sending each event's own request, in order."""
    state = SandboxState()
    for planned in IDENTIFY.plan(events, SETTINGS, False).requests:
        body = orjson.loads(planned.request.body or b"")
        state.identify(body["userId"], body)
    return state.contact(events[0]["userId"])


def merged(events: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, int]:
    """The contact after the merged requests, and how many there were."""
    state = SandboxState()
    plan = IDENTIFY.plan(events, SETTINGS, False, merge=True)
    for planned in plan.requests:
        body = orjson.loads(planned.request.body or b"")
        state.identify(body["userId"], body)
    return state.contact(events[0]["userId"]), len(plan.requests)


def test_later_values_win_absent_ones_are_kept_and_the_latest_activity_holds() -> None:
    events = [
        identify("u", "2024-01-01T00:00:00Z", {"email": "a@x.io", "plan": "free", "company": {"id": "c1"}},
                 page={"url": "https://x.io/a"}, locale="en-GB"),
        identify("u", "2024-01-01T00:00:05Z", {"plan": "pro", "name": "Ada L"}),
        identify("u", "2024-01-01T00:00:09Z", {"plan": "team", "company": {"id": "c2", "name": "Co"}},
                 page={"url": "https://x.io/b"}),
    ]  # fmt: skip
    contact, requests = merged(events)
    assert requests == 1
    assert contact == one_by_one(events)
    assert contact is not None
    assert contact["email"] == "a@x.io"  # sent once, kept
    assert contact["lang"] == "en-GB"
    assert contact["plan"] == "team"
    assert contact["name"] == "Ada L"
    assert contact["company"] == {"id": "c2", "name": "Co"}  # an object value is replaced whole
    assert contact["lastActivity"] == "2024-01-01T00:00:09.000Z"
    assert contact["lastPageView"] == {"page": "https://x.io/b", "date": "2024-01-01T00:00:09.000Z"}


TRAITS = st.dictionaries(
    st.sampled_from(["plan", "email", "phone", "score", "name", "role"]),
    st.one_of(st.integers(0, 9), st.sampled_from(["a@x.io", "b@y.io", "x", "y"])),
    max_size=4,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(TRAITS, st.sampled_from([None, "https://x.io/1", "https://x.io/2"])), min_size=1,
                max_size=8))  # fmt: skip
def test_the_merged_request_equals_sending_in_order(updates: list[tuple[dict[str, Any], str | None]]) -> None:
    events = [
        identify("u", f"2024-01-01T00:00:{i:02d}Z", traits, **({"page": {"url": page}} if page else {}))
        for i, (traits, page) in enumerate(updates)
    ]
    contact, requests = merged(events)
    assert contact == one_by_one(events)
    assert requests == (contact is not None)  # one, unless every identify was invalid (an email of 0)


def test_only_consecutive_valid_identifies_of_one_user_are_merged() -> None:
    events = [
        identify("a", "2024-01-01T00:00:00Z", {"plan": "p0"}),
        identify("a", "2024-01-01T00:00:01Z", {"email": "not an email"}),  # rejected, alone
        identify("a", "2024-01-01T00:00:02Z", {"plan": "p2"}),
        identify("b", "2024-01-01T00:00:00Z", {"plan": "q0"}),
    ]
    plan = IDENTIFY.plan(events, SETTINGS, False, merge=True)
    assert [p.indices for p in plan.requests] == [[0, 2], [3]]
    assert [r.index for r in plan.rejections] == [1]


def test_a_merged_request_carries_at_most_batch_size_events() -> None:
    small = Subscription.compile("Identify Contact", IDENTIFY_CONTACT, batch_size=3)
    events = [identify("a", f"2024-01-01T00:00:0{i}Z", {"step": i}) for i in range(7)]
    plan = small.plan(events, SETTINGS, False, merge=True)
    assert [p.indices for p in plan.requests] == [[0, 1, 2], [3, 4, 5], [6]]


def test_coalescing_is_on_for_identify_by_default_and_refused_where_the_action_cannot_merge() -> None:
    assert IDENTIFY.coalesce is True
    assert Subscription.compile("Identify Contact", IDENTIFY_CONTACT, coalesce=False).coalesce is False
    assert Subscription.compile("Track Event", TRACK_EVENT).coalesce is False
    with pytest.raises(ValueError, match="cannot coalesce"):
        Subscription.compile("Track Event", TRACK_EVENT, coalesce=True)
