"""jsjson.dumps writes what JavaScript's JSON.stringify writes (as observed from Segment's implementation)."""

from __future__ import annotations

import math

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gleap_actions.engine.jsjson import _EXPONENT, _has_exponent, _slow_dumps, dumps, js_double_str


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (10.0, "10"),
        (12345678901234567890, "12345678901234567000"),
        (9007199254740993, "9007199254740992"),
        (2**53 - 1, "9007199254740991"),
        (-(2**70), "-1.1805916207174113e+21"),
        (1e21, "1e+21"),
        (1e-7, "1e-7"),
        (1e-6, "0.000001"),
        (1.5e-5, "0.000015"),
        (-0.0, "0"),
        (0.1 + 0.2, "0.30000000000000004"),
        (123456789012345680000.0, "123456789012345680000"),
        (1e16, "10000000000000000"),
        (1.5e300, "1.5e+300"),
        (5e-324, "5e-324"),
        (-1234.5, "-1234.5"),
        (True, "true"),
        (None, "null"),
    ],
)
def test_numbers_and_literals_as_javascript_writes_them(value: object, expected: str) -> None:
    assert dumps(value).decode() == expected


def test_strings_raw_utf8_and_javascript_escapes() -> None:
    text = 'größe \u2028 / < > \x01 \x1f \x7f " \\ \b\t\n\f\r 😀'
    expected = '"größe \u2028 / < > \\u0001 \\u001f \x7f \\" \\\\ \\b\\t\\n\\f\\r 😀"'
    assert dumps(text).decode() == expected


def test_lone_surrogates_are_escaped_like_javascript() -> None:
    assert dumps({"a": "x\ud800y", "n": 10.0}) == b'{"a":"x\\ud800y","n":10}'


def test_every_lone_surrogate_is_escaped_and_nothing_beyond() -> None:
    """U+D800 to U+DFFF, the first and the last, are escaped; U+E000 after them is written raw."""
    assert dumps(["\ud800", "\udfff", "\ue000"]) == b'["\\ud800","\\udfff","\xee\x80\x80"]'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (math.nan, b"null"),
        ([math.nan, math.inf, -math.inf], b"[null,null,null]"),
        # a number to fix first: the values are rewritten for orjson
        ([1e16, math.nan, math.inf, -math.inf], b"[10000000000000000,null,null,null]"),
        ({"f": 1e-7, "n": math.nan, "i": -math.inf}, b'{"f":1e-7,"n":null,"i":null}'),
        # a lone surrogate: the plain encoder writes everything
        ({"s": "\ud800", "n": math.nan, "i": math.inf}, b'{"s":"\\ud800","n":null,"i":null}'),
    ],
)
def test_nan_and_infinities_are_null_as_in_javascript(value: object, expected: bytes) -> None:
    """`JSON.stringify` writes NaN and the infinities as `null`, whichever way the value is encoded."""
    assert dumps(value) == expected


def test_a_value_that_is_not_json_is_refused_with_its_type() -> None:
    with pytest.raises(TypeError, match=r"^Type is not JSON serializable: set$"):
        dumps({"b": {1}})


def test_nested_structures_keep_key_order_and_fix_numbers_deep_inside() -> None:
    value = {"z": [1.0, {"b": 2.5, "a": -0.0}], "a": {"big": 2**64}, "s": "1.0"}
    assert dumps(value) == b'{"z":[1,{"b":2.5,"a":0}],"a":{"big":18446744073709552000},"s":"1.0"}'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            {"s": "x", "t": True, "n": None, "i": 7, "f": 1e16},
            b'{"s":"x","t":true,"n":null,"i":7,"f":10000000000000000}',
        ),
        (["x", True, None, 7, 1e16], b'["x",true,null,7,10000000000000000]'),
        ({"s": "x", "f": 1e-7, "g": 2.0}, b'{"s":"x","f":1e-7,"g":2}'),
        (["x", 2**60, 1e-7], b'["x",1152921504606847000,1e-7]'),
    ],
)
def test_numbers_after_values_that_need_no_fixing_are_fixed(value: object, expected: bytes) -> None:
    """The walk goes on past strings, booleans, nulls and small integers to the numbers after them."""
    assert dumps(value) == expected


def test_unchanged_values_are_not_copied() -> None:
    value = {"a": [1, "x", {"b": None}]}
    assert dumps(value) == orjson.dumps(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"t": (1.0, 2)}, b'{"t":[1,2]}'),
        ((1.0, 2**60, 1e16), b"[1,1152921504606847000,10000000000000000]"),
        ([(2**60,), ("x", 1e-7)], b'[[1152921504606847000],["x",1e-7]]'),
    ],
)
def test_tuples_are_arrays(value: object, expected: bytes) -> None:
    assert dumps(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (math.inf, "Infinity"),
        (-math.inf, "-Infinity"),
        (math.nan, "NaN"),
        (7, "7"),
        (2**53, "9007199254740992"),
    ],
)
def test_js_double_str_special_values(value: float, expected: str) -> None:
    assert js_double_str(value) == expected


@settings(max_examples=300)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_double_round_trips_in_javascript_notation(value: float) -> None:
    text = js_double_str(value)
    assert float(text) == value
    mantissa = text.lstrip("-").split("e")[0]
    assert not mantissa.endswith(".0")
    magnitude = abs(value)
    uses_exponent = "e" in text
    assert uses_exponent == (magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21))
    assert dumps(value).decode() == text


_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([10.0, -0.0, 1e16, 1e-6, 1e21, 2.0**60, 0.5])
    | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=15,
)


@settings(max_examples=300)
@given(_JSON_VALUES)
def test_fast_path_agrees_with_a_plain_javascript_encoder(value: object) -> None:
    encoded = dumps(value)
    assert encoded == _slow_dumps(value).encode()
    orjson.loads(encoded)  # valid JSON


_TRICKY_VALUES = st.recursive(
    st.sampled_from([10.0, -0.0, 0.0, -12.0, 1e15, 2.0**53, 0.5, 7, None])
    | st.text(alphabet='":,.01-]}[{e\\ ', max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(alphabet='":,.01]}', max_size=4), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300)
@given(_TRICKY_VALUES)
def test_integral_floats_are_fixed_in_the_text_but_never_inside_strings(value: object) -> None:
    assert dumps(value) == _slow_dumps(value).encode()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # a string that looks like an integral float's end, between two floats: the quotes before each
        # match are counted from the previous match on, so the one inside the string is left alone
        ([1.0, "x.0]", 2.0], b'[1,"x.0]",2]'),
        ({"a": 1.0, "b.0": "c.0}", "d": -0.0}, b'{"a":1,"b.0":"c.0}","d":0}'),
        (["x.0", 3.0, "y.0,", 4.0], b'["x.0",3,"y.0,",4]'),
    ],
)
def test_integral_floats_after_a_string_holding_one(value: object, expected: bytes) -> None:
    assert dumps(value) == expected


@settings(max_examples=500)
@given(st.binary(max_size=12) | st.text(alphabet="e-+0123456789.E ", max_size=12).map(str.encode))
def test_the_exponent_look_agrees_with_its_pattern(text: bytes) -> None:
    """`_has_exponent` (a cheaper scan first) says what the one pattern `_EXPONENT` says."""
    assert _has_exponent(text) is (_EXPONENT.search(text) is not None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [(b"1e-7", True), (b"1e+16", True), (b"e+", False), (b"e-x", False), (b'"+1",1e5', False), (b"", False)],
)
def test_the_exponent_look_on_examples(text: bytes, expected: bool) -> None:
    assert _has_exponent(text) is expected is (_EXPONENT.search(text) is not None)
