"""`number_text` prints a number as JavaScript's `String(value)` does (how FQL compares numbers as text)."""

from __future__ import annotations

import pytest

from gleap_actions.engine.fql.values import number_text

# What node -e 'console.log(String(x))' prints for each value.
CASES = [
    (5, "5"),
    (5.0, "5"),
    (-0.0, "0"),
    (0.5, "0.5"),
    (123.456, "123.456"),
    (-0.001, "-0.001"),
    (0.000001, "0.000001"),
    (0.0000012, "0.0000012"),
    (1e-7, "1e-7"),
    (1.25e-7, "1.25e-7"),
    (-1.25e-7, "-1.25e-7"),
    (9007199254740994.0, "9007199254740994"),
    (123456789012345680000.0, "123456789012345680000"),
    (1e21, "1e+21"),
    (1.5e21, "1.5e+21"),
    (10**21, "1e+21"),
    (2**70, "1.1805916207174113e+21"),
    (1.7976931348623157e308, "1.7976931348623157e+308"),
    (5e-324, "5e-324"),
]


@pytest.mark.parametrize(("value", "text"), CASES, ids=[text for _, text in CASES])
def test_numbers_print_as_javascript_prints_them(value: float, text: str) -> None:
    assert number_text(value) == text


def test_integers_print_every_digit_below_1e21() -> None:
    # A deliberate difference: JavaScript would print the nearest double (9007199254740992).
    assert number_text(9007199254740993) == "9007199254740993"
    assert number_text(10**21 - 1) == "999999999999999999999"
