"""Requests to Gleap's admin API: headers every request carries, the auth test and contact deletion."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from gleap_actions import __version__
from gleap_actions.destinations.gleap.settings import GleapSettings
from gleap_actions.engine.action import Request
from gleap_actions.engine.errors import PayloadValidationError
from gleap_actions.engine.jsjson import dumps
from gleap_actions.engine.jsvalues import js_number

USER_AGENT = f"gleap-actions/{__version__}"
SECRET_HEADERS = frozenset({"api-token"})


def gleap_request(settings: GleapSettings, method: str, path: str, body: Any = None) -> Request:
    """A request to `settings.base_url + path` with the `Api-Token` header; `body` is sent as JSON."""
    headers = {"Api-Token": settings.api_token, "User-Agent": USER_AGENT}
    encoded = None
    if body is not None:
        headers["Content-Type"] = "application/json"
        encoded = dumps(body)
    return Request(method, settings.base_url + path, headers, encoded, SECRET_HEADERS)


def auth_test_request(settings: GleapSettings) -> Request:
    """`GET /admin/auth`: any 2xx means the token is valid (Segment's `testAuthentication`)."""
    return gleap_request(settings, "GET", "/admin/auth")


def delete_user_request(settings: GleapSettings, user_id: object) -> Request:
    """`DELETE /admin/contacts/{user id}`, the id percent-encoded (Segment interpolates it raw).

    `.` and `..` are encoded too (`%2E`), so that no path normalisation turns them into `/admin/`; the URL
    is sent as encoded here (`client.send`). A missing or empty user id is an error: there is no contact
    to delete.
    """
    if user_id is None or user_id == "" or isinstance(user_id, dict | list | bool):
        raise PayloadValidationError("Cannot delete a Gleap contact without a user id (userId is missing).")
    return gleap_request(settings, "DELETE", contact_path(user_id))


def contact_path(user_id: object) -> str:
    """`/admin/contacts/{user id}`, percent-encoded, dots of a `.` or `..` id included."""
    text = js_number(user_id) if isinstance(user_id, int | float) else str(user_id)
    segment = quote(text, safe="")
    if segment in (".", ".."):
        segment = segment.replace(".", "%2E")
    return "/admin/contacts/" + segment
