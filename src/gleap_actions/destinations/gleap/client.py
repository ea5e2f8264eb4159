"""Sending requests to Gleap and classifying the outcome into the delivery error taxonomy.

2xx returns a `Response`. 401/403 raise `InvalidCredentialsError` (delivery pauses); 408, 423, 429, 5xx
except 501, network errors and timeouts raise `RetryableError` (with `retry_after` from `Retry-After`,
seconds or an HTTP date); any other status raises `FinalHTTPError` with the response body.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from http import HTTPStatus

import aiohttp
from yarl import URL

from gleap_actions.destinations.gleap.requests import auth_test_request
from gleap_actions.destinations.gleap.settings import GleapSettings
from gleap_actions.engine.action import Request
from gleap_actions.engine.errors import FinalHTTPError, InvalidCredentialsError, RetryableError

RETRYABLE_STATUSES = frozenset({408, 423, 429})


@dataclass(frozen=True, slots=True)
class Response:
    """A 2xx answer: status, headers (lower-case names) and the raw body."""

    status: int
    headers: dict[str, str]
    body: bytes


def is_retryable_status(status: int) -> bool:
    """408, 423, 429 and every 5xx but 501 (Not Implemented will not get better)."""
    return status in RETRYABLE_STATUSES or (500 <= status <= 599 and status != 501)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """`Retry-After` as seconds from now: a number of seconds or an HTTP date; None if absent or invalid."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:
            return None
        seconds = moment.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def _status_text(status: int, reason: str | None) -> str:
    if reason:
        return f"{status} {reason}"
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


async def send(session: aiohttp.ClientSession, request: Request, timeout: float) -> Response:
    """Send `request`, waiting at most `timeout` seconds for the whole exchange; classify the outcome.

    The URL is sent exactly as built (already encoded): no normalisation of `.`/`..` segments or escapes.
    """
    try:
        async with session.request(
            request.method,
            URL(request.url, encoded=True),
            headers=request.headers,
            data=request.body,
            timeout=aiohttp.ClientTimeout(total=timeout),
            allow_redirects=False,
        ) as response:
            body = await response.read()
            status, reason = response.status, response.reason
            sent_path = response.url.raw_path
            headers = {name.lower(): value for name, value in response.headers.items()}
    except TimeoutError:
        raise RetryableError(f"Request timed out after {round(timeout * 1000)}ms") from None
    except (aiohttp.ClientError, OSError) as error:
        detail = str(error) or type(error).__name__
        raise RetryableError(f"Network error: {detail}") from None
    if 200 <= status <= 299:
        return Response(status, headers, body)
    message = _status_text(status, reason)
    if status in (401, 403):
        raise InvalidCredentialsError(message, status=status)
    if is_retryable_status(status):
        raise RetryableError(
            message, status=status, retry_after=parse_retry_after(headers.get("retry-after"))
        )
    raise FinalHTTPError(message, status=status, body=body.decode("utf-8", "replace"), path=sent_path)


async def check_credentials(session: aiohttp.ClientSession, settings: GleapSettings) -> Response:
    """`GET /admin/auth` (Segment's `testAuthentication`).

    A final non-2xx answer raises `InvalidCredentialsError("Credentials are invalid: 404 Not Found")`.
    Retryable outcomes (timeouts, network errors, 429, 5xx) raise `RetryableError` unchanged: they say
    nothing about the token.
    """
    try:
        return await send(session, auth_test_request(settings), settings.timeout)
    except (InvalidCredentialsError, FinalHTTPError) as error:
        raise InvalidCredentialsError(f"Credentials are invalid: {error}", status=error.status) from None
