"""identifyContact: exact /admin/identify bodies (every field, key order), names, traits, rejections."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gleap_actions.destinations.gleap.actions import IDENTIFY_CONTACT
from gleap_actions.destinations.gleap.settings import GleapSettings
from gleap_actions.engine.errors import PayloadValidationError

SETTINGS = GleapSettings(api_token="tok")


def _body(payload: dict[str, Any]) -> bytes:
    request = IDENTIFY_CONTACT.perform(SETTINGS, IDENTIFY_CONTACT.validate(payload))
    assert (request.method, request.url) == ("POST", "https://api.gleap.io/admin/identify")
    assert request.headers["Content-Type"] == "application/json"
    assert request.body is not None
    return request.body


def _rejection(payload: dict[str, Any]) -> str:
    with pytest.raises(PayloadValidationError) as caught:
        IDENTIFY_CONTACT.validate(payload)
    return str(caught.value)


def test_full_example_observed_from_segment() -> None:
    traits = {
        "email": "jane.doe@example.com",
        "phone": "+43 660 1234567",
        "plan": "enterprise",
        "first_name": "Jane",
        "last_name": "Doe",
        "name": "Jane Doe",
        "company": {"name": "Acme GmbH", "id": "acme-1", "employees": 250},
        "logins": 42,
        "beta": True,
    }
    payload = {  # what the default mapping resolves for that identify call
        "userId": "user-0044",
        "email": traits["email"],
        "phone": traits["phone"],
        "companyName": "Acme GmbH",
        "companyId": "acme-1",
        "lang": "de-AT",
        "plan": "enterprise",
        "lastPageView": "https://app.example.com/dashboard",
        "lastActivity": "2024-05-17T10:44:00.000Z",
        "customAttributes": traits,
    }
    assert _body(payload) == (
        b'{"userId":"user-0044","email":"jane.doe@example.com","phone":"+43 660 1234567",'
        b'"companyName":"Acme GmbH","companyId":"acme-1","lang":"de-AT","plan":"enterprise",'
        b'"lastActivity":"2024-05-17T10:44:00.000Z","first_name":"Jane","last_name":"Doe","name":"Jane Doe",'
        b'"company":{"name":"Acme GmbH","id":"acme-1","employees":250},"logins":42,"beta":true,'
        b'"lastPageView":{"page":"https://app.example.com/dashboard","date":"2024-05-17T10:44:00.000Z"}}'
    )


def test_every_field_in_segment_key_order() -> None:
    text = "5(nuZw&pud4S"
    payload = {  # Segment's "all fields" snapshot inputs, given in reverse order on purpose
        "customAttributes": {"testType": text},
        "lastActivity": "2021-02-01T00:00:00.000Z",
        "createdAt": "2021-02-01T00:00:00.000Z",
        "lastPageView": text,
        "value": -3360299155456,
        "plan": text,
        "lang": text,
        "companyId": text,
        "companyName": text,
        "phone": text,
        "email": "perum@rakunar.dm",
        "lastName": text,
        "firstName": text,
        "userId": text,
    }
    body = orjson.loads(_body(payload))
    assert list(body) == [
        "name",
        "userId",
        "email",
        "phone",
        "companyName",
        "companyId",
        "lang",
        "plan",
        "value",
        "createdAt",
        "lastActivity",
        "testType",
        "lastPageView",
    ]
    assert body == {
        "name": f"{text} {text}",
        "userId": text,
        "email": "perum@rakunar.dm",
        "phone": text,
        "companyName": text,
        "companyId": text,
        "lang": text,
        "plan": text,
        "value": -3360299155456,
        "createdAt": "2021-02-01T00:00:00.000Z",
        "lastActivity": "2021-02-01T00:00:00.000Z",
        "testType": text,
        "lastPageView": {"page": text, "date": "2021-02-01T00:00:00.000Z"},
    }


def test_required_fields_only() -> None:
    assert _body({"userId": "5(nuZw&pud4S"}) == b'{"userId":"5(nuZw&pud4S"}'


@pytest.mark.parametrize(
    ("first", "last", "name"),
    [("John", None, "John"), (None, "Doe", "Doe"), ("John", "Doe", "John Doe"), (" John ", "", "John")],
)
def test_name_from_first_and_last_name(first: str | None, last: str | None, name: str) -> None:
    payload: dict[str, Any] = {"userId": "u", "firstName": first, "lastName": last}
    assert _body(payload) == b'{"name":"' + name.encode() + b'","userId":"u"}'


def test_name_trait_replaces_the_built_name_in_place() -> None:
    payload = {"userId": "u", "firstName": "A", "customAttributes": {"x": 1, "name": "Trait Name"}}
    assert _body(payload) == b'{"name":"Trait Name","userId":"u","x":1}'


def test_traits_named_like_contact_fields_are_not_forwarded() -> None:
    traits = {
        "value": 1500,
        "createdAt": "2020-01-01",
        "lang": "fr",
        "userId": "trait-user",
        "email": "t@example.com",
        "firstName": "F",
        "lastName": "L",
        "favourite": "blue",
    }
    assert _body({"userId": "u", "customAttributes": traits}) == b'{"userId":"u","favourite":"blue"}'


def test_custom_attribute_nulls_and_company_string_are_kept() -> None:
    traits = {"company": "Acme Inc", "nick": None, "empty": "", "address": {"city": None}}
    assert _body({"userId": "u", "customAttributes": traits}) == (
        b'{"userId":"u","company":"Acme Inc","nick":null,"empty":"","address":{"city":null}}'
    )


def test_engage_audience_traits_reach_gleap_as_contact_attributes() -> None:
    # Engage identify: snake_cased audience keys with membership booleans (context.personas on the event).
    traits = {"email": "a@example.com", "order_completed_last_30days": True, "high_value_users": False}
    payload = {"userId": "u", "email": "a@example.com", "customAttributes": traits}
    assert _body(payload) == (
        b'{"userId":"u","email":"a@example.com","order_completed_last_30days":true,"high_value_users":false}'
    )


def test_coercions_and_datetime_normalisation() -> None:
    payload = {
        "userId": 42,
        "phone": 4366012345678,
        "plan": 3,
        "value": "499.5",
        "createdAt": 1700000000,
        "lastActivity": "2024-03-01T12:00:00+02:00",
        "lastPageView": "/relative größe",
    }
    assert _body(payload) == (
        b'{"userId":"42","phone":"4366012345678","plan":"3","value":499.5,'
        b'"createdAt":"2023-11-14T22:13:20.000Z","lastActivity":"2024-03-01T10:00:00.000Z",'
        b'"lastPageView":{"page":"/relative gr\xc3\xb6\xc3\x9fe","date":"2024-03-01T10:00:00.000Z"}}'
    )


def test_last_page_view_without_last_activity_has_no_date() -> None:
    assert _body({"userId": "u", "lastPageView": "https://x.io/"}) == (
        b'{"userId":"u","lastPageView":{"page":"https://x.io/"}}'
    )


def test_nulls_in_mapped_fields_are_removed() -> None:
    payload = {"userId": "u", "email": None, "phone": None, "plan": None, "customAttributes": {"email": None}}
    assert _body(payload) == b'{"userId":"u"}'


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({}, "The root value is missing the required field 'userId'."),
        ({"userId": ""}, "The root value is missing the required field 'userId'."),
        (
            {"userId": "u", "email": "nope"},
            "Email Address must be a valid email address string but it was not.",
        ),
        ({"userId": "u", "value": "abc"}, "User Value must be a number but it was a string."),
        (
            {"userId": "u", "lastActivity": "2024-02-30"},
            "Last Seen Timestamp must be a valid date and time (ISO 8601, RFC 2822, or Unix seconds or "
            "milliseconds) but it was not (day is out of range for month).",
        ),
        (
            {"userId": "u", "customAttributes": ["a"]},
            "Custom Attributes must be an object but it was an array.",
        ),
    ],
)
def test_rejections(payload: dict[str, Any], message: str) -> None:
    assert _rejection(payload) == message


def test_no_batch_and_default_mapping() -> None:
    assert IDENTIFY_CONTACT.perform_batch is None
    assert IDENTIFY_CONTACT.default_trigger == 'type = "identify"'
    assert IDENTIFY_CONTACT.default_mapping == {
        "userId": {"@path": "$.userId"},
        "firstName": {"@path": "$.properties.first_name"},
        "lastName": {"@path": "$.properties.last_name"},
        "email": {"@path": "$.traits.email"},
        "phone": {"@path": "$.traits.phone"},
        "companyName": {"@path": "$.traits.company.name"},
        "companyId": {"@path": "$.traits.company.id"},
        "lang": {"@path": "$.context.locale"},
        "plan": {"@path": "$.traits.plan"},
        "lastPageView": {"@path": "$.context.page.url"},
        "lastActivity": {"@path": "$.timestamp"},
        "customAttributes": {"@path": "$.traits"},
    }
