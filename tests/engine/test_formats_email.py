"""The email format check spells out the letters of ajv-formats' case-insensitive pattern instead of
matching with `re.IGNORECASE`; both must accept exactly the same strings."""

from __future__ import annotations

import re
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gleap_actions.engine.formats import FORMATS

# ajv-formats' pattern as written there, matched ignoring case (the reference).
REFERENCE = re.compile(
    r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?",
    re.IGNORECASE,
)
is_email = FORMATS["email"]

# Every character whose case can change, and all of ASCII: case-insensitive matching can only differ there.
CASED = [
    char
    for char in map(chr, range(sys.maxunicode + 1))
    if char.isascii() or char.lower() != char or char.upper() != char or char.casefold() != char
]


@pytest.mark.parametrize("template", ["{}@example.com", "a.{}@example.com", "a@{}.io", "a@x{}y.io", "a@b.{}"])
def test_every_cased_character_is_accepted_in_the_same_places(template: str) -> None:
    for char in CASED:
        text = template.format(char)
        assert is_email(text) is (REFERENCE.fullmatch(text) is not None), repr(text)


@settings(max_examples=500)
@given(st.text(alphabet="aZ0-._@+\u017f\u212a\u0130\u0131ßé ", max_size=14))
def test_the_same_strings_as_the_reference(text: str) -> None:
    assert is_email(text) is (REFERENCE.fullmatch(text) is not None)
