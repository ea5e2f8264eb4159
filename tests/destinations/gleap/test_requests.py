"""Settings, the auth-test request and user deletion."""

from __future__ import annotations

import logging

import pytest

from gleap_actions.destinations.gleap.requests import auth_test_request, delete_user_request
from gleap_actions.destinations.gleap.settings import GleapSettings
from gleap_actions.engine.errors import PayloadValidationError

SETTINGS = GleapSettings(api_token="s3cr3t-token")


def test_settings_defaults_and_repr_hide_the_token(caplog: pytest.LogCaptureFixture) -> None:
    assert SETTINGS.base_url == "https://api.gleap.io"
    assert SETTINGS.timeout == 10.0
    assert "s3cr3t" not in repr(SETTINGS)
    assert "s3cr3t" not in str(SETTINGS)
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("settings: %s %r", SETTINGS, SETTINGS)
    assert "s3cr3t" not in caplog.text


def test_settings_validation() -> None:
    assert GleapSettings("t", base_url="http://127.0.0.1:9/").base_url == "http://127.0.0.1:9"
    with pytest.raises(ValueError, match="base URL"):
        GleapSettings("t", base_url="api.gleap.io")
    with pytest.raises(ValueError, match="timeout"):
        GleapSettings("t", timeout=0)


def test_auth_test_request() -> None:
    request = auth_test_request(SETTINGS)
    assert (request.method, request.url, request.body) == ("GET", "https://api.gleap.io/admin/auth", None)
    assert request.headers == {"Api-Token": "s3cr3t-token", "User-Agent": request.headers["User-Agent"]}
    assert "s3cr3t" not in repr(request)
    assert "s3cr3t" not in request.to_json()


@pytest.mark.parametrize(
    ("user_id", "path"),
    [
        ("user-1", "user-1"),
        ("a b/c?d#e", "a%20b%2Fc%3Fd%23e"),
        ("größe", "gr%C3%B6%C3%9Fe"),
        (12345, "12345"),
        (1.0, "1"),
    ],
)
def test_delete_user_request_percent_encodes_the_id(user_id: object, path: str) -> None:
    request = delete_user_request(SETTINGS, user_id)
    assert request.method == "DELETE"
    assert request.url == f"https://api.gleap.io/admin/contacts/{path}"
    assert request.body is None
    assert request.headers["Api-Token"] == "s3cr3t-token"


@pytest.mark.parametrize("user_id", [None, "", {}, [], True])
def test_delete_user_without_an_id_is_a_clear_error(user_id: object) -> None:
    with pytest.raises(PayloadValidationError, match=r"^Cannot delete a Gleap contact without a user id"):
        delete_user_request(SETTINGS, user_id)
