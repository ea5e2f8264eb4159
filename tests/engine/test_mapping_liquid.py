"""`@liquid` (reference 1.5.13): python-liquid restricted like Segment's liquidjs."""

from __future__ import annotations

from typing import Any

import pytest
from liquid.exceptions import LiquidError, LiquidSyntaxError

from gleap_actions.engine.mapping.liquid import (
    DISABLED_FILTERS,
    DISABLED_TAGS,
    SegmentLiquidEnvironment,
    liquid_message,
)
from gleap_actions.mapping import MappingRuntimeError, MappingValidationError, transform

TRACK = {
    "type": "track",
    "event": "Signed Up",
    "userId": "u-1",
    "properties": {
        "name": "ada",
        "plan": "pro",
        "seats": 3,
        "price": 1.0,
        "tags": ["x", "y"],
        "meta": {"a": 1},
    },
}


def liquid(template: str, event: dict[str, Any] = TRACK) -> Any:
    return transform({"v": {"@liquid": template}}, event)["v"]


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("Hello {{ properties.name | upcase }}", "Hello ADA"),
        ("{% if properties.plan == 'pro' %}paid{% else %}free{% endif %}", "paid"),
        ("{{ properties.missing }}", ""),
        ("{{ properties.seats | plus: 2 }}", "5"),
        ("{{ properties.price }}", "1"),  # JS number printing
        ("{{ properties.meta }}", '{"a":1}'),  # JSON, not [object Object]
        ("{{ properties.tags }}", "xy"),
        ("{% assign x = properties.name | capitalize %}{{ x }}", "Ada"),
        ("{{ properties.name | nosuchfilter }}", "ada"),  # unknown filters are ignored, as in liquidjs
        ("", ""),
    ],
)
def test_liquid_renders_with_the_event_as_variables(template: str, expected: str) -> None:
    assert liquid(template) == expected


@pytest.mark.parametrize("tag", DISABLED_TAGS)
def test_disabled_tags_fail_validation(tag: str) -> None:
    with pytest.raises(MappingValidationError, match=f'tag "{tag}" is disabled'):
        liquid(f"{{% {tag} x %}}")


@pytest.mark.parametrize("name", DISABLED_FILTERS)
def test_disabled_filters_fail_at_run_time(name: str) -> None:
    with pytest.raises(MappingRuntimeError, match=f'^filter "{name}" is disabled$'):
        liquid(f"{{{{ properties.tags | {name} }}}}")


def test_template_length_is_limited_to_1000_utf16_code_units() -> None:
    assert liquid("a" * 1000) == "a" * 1000
    with pytest.raises(MappingValidationError, match="limited to 1000 characters"):
        liquid("😀" * 501)  # 1002 UTF-16 code units


def test_event_keys_that_are_python_parameter_names_are_variables() -> None:
    assert liquid("{{ self }}-{{ args }}", {"self": "s", "args": "a"}) == "s-a"


def test_filter_errors_on_event_data_are_runtime_errors() -> None:
    with pytest.raises(MappingRuntimeError):
        liquid("{{ properties.seats | divided_by: 0 }}")


def test_a_new_environment_is_configured_like_segments_liquidjs() -> None:
    # The module's environment is built at import; a fresh one must be configured the same way.
    env = SegmentLiquidEnvironment()
    assert (
        env.from_string("{{ a | no_such_filter }}|{{ a }}").render(a="x") == "x|x"
    )  # unknown filters ignored
    for tag in DISABLED_TAGS:
        with pytest.raises(LiquidError, match=f'tag "{tag}" is disabled'):
            env.from_string(f"{{% {tag} %}}")
    for name in DISABLED_FILTERS:
        with pytest.raises(LiquidError, match=f'filter "{name}" is disabled'):
            env.from_string(f"{{{{ a | {name} }}}}").render(a=[1])


@pytest.mark.parametrize(
    ("items", "template", "expected"),
    [
        (["a", None, "b"], "{{ properties.items | join: ',' }}", "a,,b"),  # liquidjs: null prints as nothing
        (["a", 1.0, 2.5, True], "{{ properties.items | join }}", "a 1 2.5 true"),  # JS numbers, space default
        ([["x", "y"], "z"], "{{ properties.items | join: ',' }}", "x,y,z"),  # nested arrays as JS prints them
        ("abc", "{{ properties.items | join: '-' }}", "abc"),  # not an array: python-liquid's join, as before
        (["a", None, 1.0], "{{ properties.items | join: nil }}", "a  1"),  # a null separator: the default
        ([1, 2], "{{ properties.items | join: 0 }}", "102"),  # a number separator as JavaScript prints it
        (
            None,
            "{{ (1..3) | join: '-' }}",
            "1-2-3",
        ),  # a range is no list: python-liquid's join, separator kept
    ],
)
def test_join_is_javascripts_array_join(items: Any, template: str, expected: str) -> None:
    event = {"properties": {"items": items}}
    assert transform({"text": {"@liquid": template}}, event) == {"text": expected}
    # the filter is installed when an environment is built: a new one must have it too
    assert SegmentLiquidEnvironment().from_string(template).render(**event) == expected


def test_liquid_message_is_the_bare_message_or_the_error_type() -> None:
    assert liquid_message(LiquidSyntaxError("unexpected '}'", token=None)) == "unexpected '}'"
    assert liquid_message(LiquidSyntaxError(token=None)) == "LiquidSyntaxError"


def test_echo_prints_values_as_javascript_does() -> None:
    event = {"properties": {"n": 1.0, "none": None, "items": ["a", 2.0]}}
    template = "{% echo properties.n %}|{% echo properties.none %}|{% echo properties.items %}"
    assert transform({"text": {"@liquid": template}}, event) == {"text": "1||a2"}
    assert SegmentLiquidEnvironment().from_string(template).render(**event) == "1||a2"
