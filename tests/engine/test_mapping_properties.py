"""Property tests: any JSON event with any mapping, well-formed or not, only ever raises the two
documented errors, and a result never leaks the internal "missing" marker."""

from __future__ import annotations

from typing import Any

import hypothesis
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gleap_actions.engine.mapping.validate import DIRECTIVES
from gleap_actions.mapping import MISSING, MappingRuntimeError, MappingValidationError, compile_mapping

KEYS = st.sampled_from(["a", "b", "userId", "traits", "properties", "0", "length", "x y", ""]) | st.text(
    max_size=4
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=20,
)
EVENTS = st.dictionaries(KEYS, JSON, max_size=6)
PLAIN_KEYS = KEYS.filter(lambda key: not key.startswith("@"))
PLAIN_JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(PLAIN_KEYS, inner, max_size=4),
    max_leaves=20,
)

PATHS = st.sampled_from(
    ["$.a", "$.a.b", "a.0", "$.traits.a", "$.", "", "$", "a[0].b", "['a'].b", "$.properties.length", "b.x y"]
)
TEMPLATES = st.sampled_from(["{{a}}", "x {{ a.b }} {{{b}}}", "{{}}", "{{ }}", "{{a}}}", "plain"])
LIQUIDS = st.sampled_from(
    ["{{ a }}", "{{ a | upcase }}", "{% if a %}y{% endif %}", "{{ a | sort }}", "{% for", ""]
)
FIELD_VALUES = {
    "operator": st.sampled_from(["lower", "upper", "title", ""]),
    "mode": st.sampled_from(["encode", "decode", "ENCODE", "xml"]),
    "direction": st.sampled_from(["left", "right", "LEFT", ""]),
    "separator": st.sampled_from([".", "__", ""]),
    "pattern": st.text(max_size=12),
    "replacement": st.text(max_size=12),
    "pattern2": st.text(max_size=12),
    "replacement2": st.text(max_size=12),
    "ignorecase": st.booleans() | SCALARS,
    "global": st.booleans() | SCALARS,
    "omitArrays": st.booleans(),
}
FIELDS = [*FIELD_VALUES, "exists", "blank", "then", "else", "value", "objects", "apply", "mapping"]


def directive_arguments(sub: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    def field(name: str) -> st.SearchStrategy[Any]:
        base = FIELD_VALUES.get(name, sub)
        return base | sub if name in FIELD_VALUES else base

    fields = st.lists(st.sampled_from(FIELDS), max_size=5, unique=True).flatmap(
        lambda names: st.fixed_dictionaries({name: field(name) for name in names})
    )
    return PATHS | TEMPLATES | LIQUIDS | fields | st.lists(sub, max_size=3) | SCALARS


def mappings() -> st.SearchStrategy[Any]:
    def extend(sub: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        name = st.sampled_from(sorted(DIRECTIVES)) | st.sampled_from(["@oops", "@"])
        directive = st.builds(lambda n, arg: {n: arg}, name, directive_arguments(sub))
        mixed = st.builds(
            lambda d, k, v: {**d, k: v}, directive, st.sampled_from(["_metadata", "extra"]), sub
        )
        return directive | mixed | st.lists(sub, max_size=3) | st.dictionaries(KEYS, sub, max_size=4)

    return st.recursive(SCALARS | st.builds(lambda p: {"@path": p}, PATHS), extend, max_leaves=12)


def assert_no_missing(value: Any) -> None:
    assert value is not MISSING
    if isinstance(value, dict):
        for item in value.values():
            assert_no_missing(item)
    elif isinstance(value, list):
        for item in value:
            assert_no_missing(item)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mapping=mappings(), events=st.lists(EVENTS, min_size=1, max_size=3))
def test_any_mapping_with_any_event_raises_only_documented_errors(mapping: Any, events: list[Any]) -> None:
    try:
        compiled = compile_mapping(mapping)
    except MappingValidationError as error:
        assert error.errors
        assert all(message.startswith("/") and message.endswith(".") for message in error.errors)
        return
    for event in events:
        try:
            result = compiled(event)
        except MappingRuntimeError:
            continue
        if result is not MISSING:  # only a root directive may resolve to missing
            assert_no_missing(result)
            orjson.dumps(result)


@settings(max_examples=200, deadline=None)
@given(mapping=st.dictionaries(PLAIN_KEYS, PLAIN_JSON, max_size=5), event=EVENTS)
def test_a_mapping_without_directives_resolves_to_itself(
    mapping: dict[str, Any], event: dict[str, Any]
) -> None:
    assert compile_mapping(mapping)(event) == mapping


def simple(key: str) -> bool:
    """Whether a bracketed path `$.['key']` reads `key` as one segment (no path syntax inside)."""
    return key != "" and not set(key) & set(".[]'\"")


SIMPLE_KEYS = KEYS.filter(simple)


@st.composite
def event_and_key(draw: st.DrawFn) -> tuple[dict[str, Any], str, bool]:
    """An event and a key that it holds (three times in four) or lacks, and which of the two: random
    keys would almost never be in a random event, and `{} == {}` proves nothing."""
    event = draw(st.dictionaries(SIMPLE_KEYS, JSON, min_size=1, max_size=6) | EVENTS)
    present = [key for key in event if simple(key)]
    if present and draw(st.integers(0, 3)) > 0:
        return event, draw(st.sampled_from(present)), True
    key = draw(SIMPLE_KEYS.filter(lambda key: key not in event))
    return event, key, False


@settings(max_examples=200, deadline=None)
@given(case=event_and_key())
def test_path_agrees_with_the_event(case: tuple[dict[str, Any], str, bool]) -> None:
    event, key, present = case
    hypothesis.event("key present" if present else "key absent")
    result = compile_mapping({"v": {"@path": f"$.['{key}']"}})(event)
    if present:
        assert result == {"v": event[key]}
    else:
        assert result == {}
