"""The actions' requests, sent by the client to the Gleap sandbox: accepted and stored as Gleap would."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from gleap_actions.destinations.gleap.actions import IDENTIFY_CONTACT, TRACK_EVENT
from gleap_actions.destinations.gleap.client import check_credentials, send
from gleap_actions.destinations.gleap.requests import delete_user_request
from gleap_actions.destinations.gleap.settings import GleapSettings
from gleap_actions.engine.errors import FinalHTTPError, InvalidCredentialsError, RetryableError
from gleap_actions.sandbox import SandboxThread

TOKEN = "sandbox-test-token"


@pytest.fixture
def sandbox_token() -> str:
    return TOKEN


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def test_track_batch_identify_and_delete(
    sandbox: SandboxThread, session: aiohttp.ClientSession
) -> None:
    settings = GleapSettings(api_token=TOKEN, base_url=sandbox.url, timeout=5)
    assert (await check_credentials(session, settings)).status == 200
    contact = IDENTIFY_CONTACT.validate(
        {"userId": "u/1 ä", "email": "a@example.com", "value": "12.5", "customAttributes": {"vip": True}}
    )
    await send(session, IDENTIFY_CONTACT.perform(settings, contact), settings.timeout)
    payloads = [
        TRACK_EVENT.validate(
            {"eventName": "Signed Up", "type": "track", "date": 1717000000, "userId": "u/1 ä"}
        ),
        TRACK_EVENT.validate({"eventName": "Home", "type": "page", "date": "2024-05-29", "userId": "u/1 ä"}),
    ]
    assert TRACK_EVENT.perform_batch is not None
    await send(session, TRACK_EVENT.perform_batch(settings, payloads), settings.timeout)
    assert sandbox.state.contact("u/1 ä") == {
        "userId": "u/1 ä",
        "email": "a@example.com",
        "value": 12.5,
        "vip": True,
    }
    events = sandbox.state.events("u/1 ä")
    assert [(e["name"], e["date"]) for e in events] == [
        ("Signed Up", "2024-05-29T16:26:40.000Z"),
        ("pageView", "2024-05-29T00:00:00.000Z"),
    ]
    await send(session, delete_user_request(settings, "u/1 ä"), settings.timeout)
    assert sandbox.state.contact("u/1 ä") is None
    with pytest.raises(FinalHTTPError) as caught:
        await send(session, delete_user_request(settings, "u/1 ä"), settings.timeout)
    assert caught.value.status == 404


async def test_wrong_token_and_rate_limit(sandbox: SandboxThread, session: aiohttp.ClientSession) -> None:
    wrong = GleapSettings(api_token="wrong", base_url=sandbox.url, timeout=5)
    with pytest.raises(InvalidCredentialsError, match=r"^Credentials are invalid: 401 "):
        await check_credentials(session, wrong)
    sandbox.set_faults(rate_limit=1, rate_limit_window=60)
    settings = GleapSettings(api_token=TOKEN, base_url=sandbox.url, timeout=5)
    request = TRACK_EVENT.perform(
        settings, TRACK_EVENT.validate({"eventName": "E", "type": "track", "date": 0, "userId": "u"})
    )
    await send(session, request, settings.timeout)
    with pytest.raises(RetryableError) as caught:
        await send(session, request, settings.timeout)
    assert caught.value.status == 429
    assert caught.value.retry_after is not None
    assert caught.value.retry_after > 0
