"""`Trigger.types`: a trigger on the call type alone selects exactly the events of those types, so preview
can pick them by type without calling it. Checked against the compiled trigger over generated events."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gleap_actions import fql

TYPES = ["track", "identify", "page", "screen", "group", "alias", "Track", "", "x"]
TRIGGERS = [
    ('type = "track"', {"track"}),
    ('type = "track" or type = "page" or type = "screen"', {"track", "page", "screen"}),
    ("type = 'identify' OR type = \"identify\"", {"identify"}),
    ('(type = "track")', {"track"}),
    ('type = "track" and event = "Signed Up"', None),
    ('type = "track" or event = "Signed Up"', None),
    ('type != "track"', None),
    ('not type = "track"', None),
    ("type = 1", None),
    ("type = true", None),
    ('properties.type = "track"', None),
    ('contains(type, "track")', None),
    ('event = "track"', None),
]
any_type = (
    st.sampled_from(TYPES) | st.none() | st.integers() | st.booleans() | st.lists(st.sampled_from(TYPES))
)


@pytest.mark.parametrize(("text", "types"), TRIGGERS)
def test_only_a_trigger_on_the_type_alone_has_types(text: str, types: set[str] | None) -> None:
    selected = fql.parse(text).types
    assert selected == (None if types is None else frozenset(types))


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([text for text, types in TRIGGERS if types is not None]),
    st.fixed_dictionaries({"type": st.sampled_from(TYPES)}, optional={"event": st.sampled_from(TYPES)}),
)
def test_types_select_the_same_events_as_the_trigger(text: str, event: dict[str, Any]) -> None:
    trigger = fql.parse(text)
    assert trigger.types is not None
    assert trigger(event) is (event["type"] in trigger.types)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(TYPES), min_size=1, max_size=4), any_type)
def test_generated_type_triggers_agree_with_their_types(names: list[str], kind: object) -> None:
    trigger = fql.parse(" or ".join(f'type = "{name}"' for name in names))
    assert trigger.types == frozenset(names)
    event = {"type": kind}
    # For a string type (what every normalised event has) the set decides; the trigger never needs a call.
    if isinstance(kind, str):
        assert trigger(event) is (kind in trigger.types)
    else:
        assert trigger(event) is False
