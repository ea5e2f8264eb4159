"""Operations on the Gleap account: check the credentials, delete a user's contact.

Shared by the CLI (`check-auth`, `delete-user`), the admin API and the pipeline. Each returns an
`Outcome` instead of raising on an HTTP failure, saying whether trying again later may help.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from yarl import URL

from gleap_actions.destinations.gleap.client import check_credentials, send
from gleap_actions.destinations.gleap.requests import delete_user_request
from gleap_actions.destinations.gleap.settings import GleapSettings, shown_url
from gleap_actions.engine.action import Request
from gleap_actions.engine.errors import (
    ActionsError,
    DeliveryError,
    FinalHTTPError,
    InvalidCredentialsError,
    RetryableError,
)


@dataclass(frozen=True)
class Outcome:
    """The result of one operation. `message` is for people and never holds a secret."""

    ok: bool
    message: str
    status: int | None = None  # Gleap's HTTP status; None when Gleap did not answer
    retryable: bool = False  # a temporary failure: trying again later may succeed


async def check_auth(settings: GleapSettings, session: aiohttp.ClientSession | None = None) -> Outcome:
    """`GET /admin/auth`: are the configured credentials accepted by Gleap?

    Like Segment, any final non-2xx answer means they are not ("Credentials are invalid: 404 Not Found").
    """
    try:
        if session is not None:
            response = await check_credentials(session, settings)
        else:
            async with aiohttp.ClientSession() as own_session:
                response = await check_credentials(own_session, settings)
    except InvalidCredentialsError as exc:
        return Outcome(False, str(exc), exc.status)
    except RetryableError as exc:
        return Outcome(False, f"Could not check the credentials: {exc}", exc.status, retryable=True)
    url = f"{shown_url(settings.base_url)}/admin/auth"
    return Outcome(
        True, f"Credentials are valid: Gleap answered {response.status} to GET {url}", response.status
    )


async def delete_user(
    settings: GleapSettings, user_id: str, session: aiohttp.ClientSession | None = None
) -> Outcome:
    """`DELETE /admin/contacts/{user_id}`: delete the user's contact. A 404 for the contact's path counts
    as done (idempotent); a 404 for any other path (the path rewritten on its way, e.g. `..` resolved)
    is a failure: nothing was deleted."""
    try:
        request = delete_user_request(settings, user_id)
    except ActionsError as exc:
        return Outcome(False, str(exc))
    try:
        status = await _send(session, request, settings.timeout)
    except InvalidCredentialsError as exc:
        return Outcome(False, f"Gleap refused the credentials: {exc}", exc.status)
    except RetryableError as exc:
        return Outcome(False, f"Could not delete the contact, try again later: {exc}", exc.status, True)
    except FinalHTTPError as exc:
        expected = URL(request.url, encoded=True).raw_path
        if exc.status == 404 and exc.path == expected:
            return Outcome(True, f"Gleap has no contact {user_id!r}: nothing to delete", 404)
        if exc.status == 404:
            message = f"Gleap answered 404 for {exc.path}, not for the contact's path {expected}"
            return Outcome(False, message, 404)
        return Outcome(False, f"Gleap refused the deletion: {exc}", exc.status)
    except DeliveryError as exc:
        return Outcome(False, f"Gleap refused the deletion: {exc}", exc.status)
    return Outcome(True, f"Deleted the Gleap contact {user_id!r} (Gleap answered {status})", status)


async def _send(session: aiohttp.ClientSession | None, request: Request, timeout: float) -> int:
    """Send with the given session, or with a session of its own."""
    if session is not None:
        return (await send(session, request, timeout)).status
    async with aiohttp.ClientSession() as own_session:
        return (await send(own_session, request, timeout)).status
