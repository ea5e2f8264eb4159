"""Request: redaction, previews and dead-letter JSON never show secrets."""

from __future__ import annotations

import orjson

from gleap_actions.engine.action import Plan, PlannedRequest, Rejection, Request


def test_redaction_is_case_insensitive_and_keeps_other_headers() -> None:
    request = Request(
        "POST", "https://x/y", {"API-Token": "t0ken", "Accept": "*/*"}, b"{}", frozenset({"api-token"})
    )
    assert request.redacted().headers == {"API-Token": "***", "Accept": "*/*"}
    assert request.headers["API-Token"] == "t0ken"  # the original is untouched
    assert "t0ken" not in repr(request)


def test_to_json_embeds_json_bodies_and_text_bodies() -> None:
    json_request = Request("POST", "https://x/y", {"Api-Token": "t"}, b'{"a":[1]}', frozenset({"api-token"}))
    assert orjson.loads(json_request.to_json()) == {
        "method": "POST",
        "url": "https://x/y",
        "headers": {"Api-Token": "***"},
        "body": {"a": [1]},
    }
    text_request = Request("PUT", "https://x/y", {}, b"not json \xff")
    assert orjson.loads(text_request.to_json())["body"] == "not json \ufffd"
    assert orjson.loads(Request("GET", "https://x/", {}).to_json())["body"] is None


def test_plan_values() -> None:
    request = Request("GET", "https://x/", {})
    plan = Plan([PlannedRequest(request, [0, 2])], [Rejection(1, 400, "PAYLOAD_VALIDATION_FAILED", "m")])
    assert plan.requests[0].indices == [0, 2]
    assert plan.rejections[0].status == 400


def test_redacted_keeps_everything_but_secret_values_and_repr_shows_the_body_size() -> None:
    request = Request("PUT", "https://x/y", {"Api-Token": "t0ken"}, b"12345", frozenset({"api-token"}))
    assert request.redacted() == Request(
        "PUT", "https://x/y", {"Api-Token": "***"}, b"12345", request.secret_headers
    )
    assert request.redacted().redacted().headers == {"Api-Token": "***"}
    assert repr(request) == "Request(PUT https://x/y, headers={'Api-Token': '***'}, body=5 bytes)"
    assert repr(Request("GET", "https://x/", {})) == "Request(GET https://x/, headers={}, body=0 bytes)"
