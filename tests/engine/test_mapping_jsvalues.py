"""JavaScript value rules used by the mapping-kit (`engine/jsvalues.py`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from gleap_actions.engine.jsvalues import (
    MISSING,
    is_loosely_blank,
    is_truthy,
    js_json,
    js_length,
    js_number,
    js_string,
)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (-0.0, "0"),
        (1.5, "1.5"),
        (0.1, "0.1"),
        (1e21, "1e+21"),
        (1.5e21, "1.5e+21"),
        (1e20, "100000000000000000000"),
        (1.2345678901234567e20, "123456789012345670000"),
        (2.0**60, "1152921504606847000"),
        (-(2.0**70), "-1.1805916207174113e+21"),
        (123456789.123, "123456789.123"),
        (1e-6, "0.000001"),
        (1e-7, "1e-7"),
        (1.25e-7, "1.25e-7"),
        (-2.5e-10, "-2.5e-10"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (float("nan"), "NaN"),
        (float("inf"), "Infinity"),
        (float("-inf"), "-Infinity"),
        (42, "42"),
        (10**21, "1000000000000000000000"),  # integers print exactly (deliberate)
    ],
)
def test_js_number(value: float, text: str) -> None:
    assert js_number(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "true"),
        (False, "false"),
        (None, "null"),
        (MISSING, "undefined"),
        ("s", "s"),
        ([1, [2, 3]], "1,2,3"),
        ([None, "x", MISSING], ",x,"),
        ([], ""),
        ({"a": [1.0]}, '{"a":[1]}'),
    ],
)
def test_js_string(value: Any, text: str) -> None:
    assert js_string(value) == text


@pytest.mark.parametrize(
    ("value", "truthy"),
    [
        (MISSING, False),
        (None, False),
        (False, False),
        (0, False),
        (0.0, False),
        (float("nan"), False),
        ("", False),
        ({}, True),
        ([], True),
        ("0", True),
        (" ", True),
        (-1, True),
        (True, True),
    ],
)
def test_is_truthy(value: Any, truthy: bool) -> None:
    assert is_truthy(value) is truthy


def test_is_loosely_blank() -> None:
    assert all(is_loosely_blank(v) for v in ("", 0, False, 0.0, [], [""], [None], [[]]))
    assert not any(is_loosely_blank(v) for v in (" ", "0", {}, 1, True, float("nan"), [0], [None, None]))


def test_js_json() -> None:
    value = {"a": MISSING, "b": [MISSING, float("nan"), 2.0], "c": "\ud800\n\u00e9", "d": None}
    assert js_json(value) == '{"b":[null,null,2],"c":"\\ud800\\n\u00e9","d":null}'


def test_js_json_of_scalars_and_other_values() -> None:
    assert [js_json(v) for v in (True, False, None, MISSING, 1, 1.0, float("nan"), "é")] == [
        "true", "false", "null", "null", "1", "1", "null", '"é"'
    ]  # fmt: skip
    assert js_json([True, {"a": False, "b": MISSING}]) == '[true,{"a":false}]'
    assert js_json(Decimal("1.50")) == '"1.50"'  # anything else prints as its text


def test_js_length_counts_utf16_code_units() -> None:
    assert js_length("a😀é") == 4 and type(js_length("😀")) is int


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (2.0**53, "9007199254740992"),
        (2.0**53 + 2, "9007199254740994"),
        (2.0**54, "18014398509481984"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1e16, "10000000000000000"),
        (1e-6, "0.000001"),
        (1e-7, "1e-7"),
        (-1e-7, "-1e-7"),
        (-0.0, "0"),
        (-1.5, "-1.5"),
        (1.23e-18, "1.23e-18"),
        (1.5e300, "1.5e+300"),
        (float("inf"), "Infinity"),
        (float("-inf"), "-Infinity"),
        (123456.789, "123456.789"),
        (100.0, "100"),
        (5e-324, "5e-324"),
        (0.000123, "0.000123"),
        (1234.5e10, "12345000000000"),
    ],
)
def test_js_number_writes_doubles_as_javascript(value: float, text: str) -> None:
    assert js_number(value) == text


def test_missing_is_falsy_named_and_one_object_even_through_pickle() -> None:
    import pickle

    assert not MISSING
    assert repr(MISSING) == "MISSING"
    assert pickle.loads(pickle.dumps(MISSING)) is MISSING
    assert type(MISSING)() is MISSING
