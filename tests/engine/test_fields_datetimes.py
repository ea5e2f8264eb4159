"""Datetime fields: strict parsing, ISO 8601 UTC output with milliseconds, clear rejections."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gleap_actions.engine.datetimes import (
    InvalidDatetime,
    canonical_datetime,
    format_iso,
    normalize_datetime,
    parse_datetime,
)
from gleap_actions.engine.errors import PayloadValidationError
from gleap_actions.engine.fields import Field, compile_fields

VALIDATE = compile_fields({"date": Field("Event Timestamp", "datetime", required=True)})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-02T03:04:05.000Z", "2024-01-02T03:04:05.000Z"),
        ("2024-01-02T03:04:05Z", "2024-01-02T03:04:05.000Z"),
        ("2024-01-02T03:04:05.123456789z", "2024-01-02T03:04:05.123Z"),
        ("2024-03-01T12:00:00+02:00", "2024-03-01T10:00:00.000Z"),
        ("2024-03-01T12:00:00-0530", "2024-03-01T17:30:00.000Z"),
        ("2024-03-01T12:00:00+02", "2024-03-01T10:00:00.000Z"),
        ("2024-03-01 12:00:00", "2024-03-01T12:00:00.000Z"),
        ("2024-06-01T10:00", "2024-06-01T10:00:00.000Z"),
        ("2024-03-01", "2024-03-01T00:00:00.000Z"),
        ("2024-02-29", "2024-02-29T00:00:00.000Z"),
        ("Mon, 01 Jan 2024 10:00:00 GMT", "2024-01-01T10:00:00.000Z"),
        ("1 Jan 2024 10:00 +0200", "2024-01-01T08:00:00.000Z"),
        ("Tue, 2 Jan 2024 03:04:05 EST", "2024-01-02T08:04:05.000Z"),
        ("1717000000", "2024-05-29T16:26:40.000Z"),
        ("1717000000123", "2024-05-29T16:26:40.123Z"),
        (1717000000, "2024-05-29T16:26:40.000Z"),
        (1717000000123, "2024-05-29T16:26:40.123Z"),
        (1717000000.5, "2024-05-29T16:26:40.500Z"),
        (0, "1970-01-01T00:00:00.000Z"),
        (-1, "1969-12-31T23:59:59.000Z"),
        (["2024-01-02T03:04:05Z"], "2024-01-02T03:04:05.000Z"),
        ("  2024-01-02T03:04:05Z ", "2024-01-02T03:04:05.000Z"),
    ],
)
def test_accepted_forms_are_sent_as_iso_utc_with_milliseconds(value: Any, expected: str) -> None:
    assert VALIDATE({"date": value}) == {"date": expected}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("abc 2024", "unrecognised date format"),
        ("12", "unrecognised date format"),
        ("20240601", "unrecognised date format"),
        ("May 5", "unrecognised date format"),
        ("06/01/2024", "unrecognised date format"),
        ("not-a-date", "unrecognised date format"),
        ("yesterday", "unrecognised date format"),
        ("2024-W22", "unrecognised date format"),
        ("true", "unrecognised date format"),
        (" ", "unrecognised date format"),
        ("2024-02-30", "day is out of range for month"),
        ("2023-02-29", "day is out of range for month"),
        ("2024-13-45T99:99:99Z", "month must be in 1..12"),
        ("2024-06-01T25:00:00Z", "hour must be in 0..23"),
        ("2024-02-30T00:00:00.000Z", "day is out of range for month"),
        ("2024-01-01T00:00:00+25:00", "the UTC offset is out of range"),
        ("32 Jan 2024 10:00 GMT", "day is out of range for month"),
        (True, "unrecognised date format"),
        (1e20, "out of range"),
        ("9999-12-31T23:59:59-05:00", "out of range"),
    ],
)
def test_rejected_with_a_clear_message(value: Any, reason: str) -> None:
    with pytest.raises(PayloadValidationError) as caught:
        VALIDATE({"date": value})
    assert str(caught.value) == (
        "Event Timestamp must be a valid date and time (ISO 8601, RFC 2822, or Unix seconds or milliseconds) "
        f"but it was not ({reason})."
    )


@pytest.mark.parametrize("value", ["", None])
def test_empty_timestamp_is_missing(value: Any) -> None:
    with pytest.raises(
        PayloadValidationError, match=r"^The root value is missing the required field 'date'\.$"
    ):
        VALIDATE({"date": value})


def test_parse_rejects_non_dates_directly() -> None:
    for value in (None, {}, [], True, float("nan")):
        with pytest.raises(InvalidDatetime):
            parse_datetime(value)
    with pytest.raises(InvalidDatetime):
        normalize_datetime(float("inf"))


def test_years_before_1000_are_zero_padded() -> None:
    assert format_iso(datetime(5, 1, 2, tzinfo=UTC)) == "0005-01-02T00:00:00.000Z"


@settings(max_examples=150)
@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)))
def test_iso_output_round_trips(moment: datetime) -> None:
    text = normalize_datetime(moment.isoformat())
    assert normalize_datetime(text) == text
    assert parse_datetime(text) == moment.replace(microsecond=moment.microsecond // 1000 * 1000)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Tue, 2 Jan 2024 03:04:05 UT", "2024-01-02T03:04:05.000Z"),
        ("2 Jan 2024 03:04:05 utc", "2024-01-02T03:04:05.000Z"),
        ("2 Jan 2024 03:04:05 Z", "2024-01-02T03:04:05.000Z"),
        ("2 Jan 2024 03:04 GMT", "2024-01-02T03:04:00.000Z"),
        ("2 Jan 2024 03:04:05 +0130", "2024-01-02T01:34:05.000Z"),
        ("2 Jan 2024 03:04:05 -2359", "2024-01-03T03:03:05.000Z"),
        ("2 Jan 2024 03:04:05 PDT", "2024-01-02T10:04:05.000Z"),
        ("2024-01-02T03:04:05+23:59", "2024-01-01T03:05:05.000Z"),
        ("2024-01-02T03:04:05.000+00:00", "2024-01-02T03:04:05.000Z"),
        (99999999999, "5138-11-16T09:46:39.000Z"),  # seconds below 1e11 ...
        (100000000000, "1973-03-03T09:46:40.000Z"),  # ... milliseconds from there
    ],
)
def test_normalized_datetimes(value: Any, expected: str) -> None:
    assert normalize_datetime(value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (True, "a boolean is not a date"),
        ([1], "not a string or number"),
        (float("inf"), "not a finite number"),
        (float("-inf"), "not a finite number"),
        (float("nan"), "not a finite number"),
        ("2 Foo 2024 03:04:05 GMT", "unknown month 'Foo'"),
        ("2024-01-02T03:04:05+24:00", "the UTC offset is out of range"),
        ("2024-01-02T03:04:05+23:60", "the UTC offset is out of range"),
    ],
)
def test_rejected_datetimes_say_why(value: Any, reason: str) -> None:
    with pytest.raises(InvalidDatetime) as caught:
        normalize_datetime(value)
    assert str(caught.value) == reason


def test_format_iso_converts_to_utc() -> None:
    moment = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    assert format_iso(moment) == "2024-01-02T01:04:05.000Z"


@pytest.fixture
def local_time_not_utc() -> Iterator[None]:
    """The process's local time zone set to UTC+3 (a POSIX rule: no time zone database needed)."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "EAT-3"
    time.tzset()
    try:
        assert time.timezone == -3 * 3600
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


@pytest.mark.usefixtures("local_time_not_utc")
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Mon, 01 Jan 2024 10:00:00 GMT", "2024-01-01T10:00:00.000Z"),
        ("1 Jan 2024 10:00 UT", "2024-01-01T10:00:00.000Z"),
        ("2024-03-01T12:00:00+02:00", "2024-03-01T10:00:00.000Z"),
        ("2024-03-01 12:00:00", "2024-03-01T12:00:00.000Z"),
        (1704164645, "2024-01-02T03:04:05.000Z"),
    ],
)
def test_the_output_is_utc_whatever_the_local_time_zone(value: Any, expected: str) -> None:
    """Zones named UTC and offsets are read as such, and the output is converted to UTC, not local time."""
    assert normalize_datetime(value) == expected


# The output form as a regular expression: `canonical_datetime` checks it without one, and must agree.
_CANONICAL_FORM = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
_CANONICAL = "2024-01-02T03:04:05.678Z"
# Every ASCII character, and some that are digits or separators elsewhere in Unicode.
_CHARACTERS = [chr(code) for code in range(128)] + ["é", "٣", "２", "\u2028", "\U0001f600"]


def _expected_canonical(text: str) -> str | None:
    if _CANONICAL_FORM.fullmatch(text) is None:
        return None
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return None
    return text


def _near_canonical() -> list[str]:
    """The canonical form with one character replaced, inserted or removed, anywhere; and odd dates."""
    texts = ["2024-02-29T00:00:00.000Z", "2023-02-29T00:00:00.000Z", "0000-01-01T00:00:00.000Z"]
    texts += ["2024-W01-1T03:04:05.678Z", "2024-01-02T03:04:05,678Z", "9999-12-31T23:59:59.999Z"]
    for place in range(len(_CANONICAL) + 1):
        texts.append(_CANONICAL[:place] + _CANONICAL[place + 1 :])
        for char in _CHARACTERS:
            texts.append(_CANONICAL[:place] + char + _CANONICAL[place + 1 :])
            texts.append(_CANONICAL[:place] + char + _CANONICAL[place:])
    return texts


def test_canonical_check_agrees_with_the_output_form() -> None:
    texts = _near_canonical()
    accepted = [text for text in texts if canonical_datetime(text) is not None]
    assert [canonical_datetime(text) for text in texts] == [_expected_canonical(text) for text in texts]
    assert _CANONICAL in accepted and "2024-02-29T00:00:00.000Z" in accepted


@settings(max_examples=300)
@given(st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z", fullmatch=True))
def test_canonical_check_agrees_on_any_digits(text: str) -> None:
    assert canonical_datetime(text) == _expected_canonical(text)
