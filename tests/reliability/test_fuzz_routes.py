"""Every ingest and admin route of a real `gleap-actions serve`, fed arbitrary input: never a 5xx, never an
ERROR line or traceback in its log, every answer JSON (`{"code", "message"}` for errors, the route's
success shape otherwise), no secret echoed.

Two parts:
- the fuzz corpus, `tests/reliability/corpus/*.json`: concrete inputs that once broke a promise (a 500,
  one bad event failing others, a secret echoed, a plain-text answer), each with the answer expected;
- hypothesis over arbitrary JSON values, dates, nesting depths, sizes and encodings, on every route.

A corpus file: `method`, `path`, `auth` (`write_key`, `admin` or `none`), optional `headers`, `body`
(JSON) or `body_text`, and `expect` (`status`, optional `code`, `rejected` items of a batch, or the
`result_status` of each preview line). `{ADMIN_TOKEN}`, `{PAD:n}` (n x's) and
`{WRITE_KEY_BASE64_REPEATED:n}` are filled in here, so the files hold no secret and stay small.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gleap_actions.sandbox import Faults, SandboxThread

from .harness import (
    ADMIN_TOKEN,
    SOAK,
    TOKEN,
    WRITE_KEY,
    ServeProcess,
    assert_no_secrets,
    free_port,
    write_config,
)

CORPUS = sorted((Path(__file__).parent / "corpus").glob("*.json"))
INGEST_PATHS = [f"/v1/{p}" for p in ("track", "identify", "page", "screen", "group", "alias")]
BATCH_PATHS = ["/v1/batch", "/v1/import"]
BASIC = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
BEARER = f"Bearer {ADMIN_TOKEN}"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    folder = tmp_path_factory.mktemp("fuzz")
    with SandboxThread(api_token=TOKEN, faults=Faults(rate_limit=None), request_log_size=10) as sandbox:
        process = ServeProcess(
            write_config(folder, sandbox.url, port=free_port()), folder / "serve.log"
        ).start()
        try:
            yield process
        finally:
            process.stop()


def send(
    service: ServeProcess, method: str, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, bytes]:
    """One request on its own connection, the path sent as given (no client normalises it)."""
    parts = urlsplit(service.url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            conn.putheader(name, value)
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def check_answer(status: int, answer: bytes) -> Any:
    """The promises every answer keeps; returns its JSON."""
    assert status < 500, (status, answer[:300])
    assert_no_secrets([answer.decode("utf-8", "replace")])
    document = json.loads(answer)
    if status >= 400:
        assert set(document) == {"code", "message"}, document
        assert isinstance(document["code"], str) and isinstance(document["message"], str)
    return document


# -- the corpus ---------------------------------------------------------------------------------------


def _fill(text: str) -> str:
    text = text.replace("{ADMIN_TOKEN}", ADMIN_TOKEN)
    text = re.sub(r"\{PAD:(\d+)\}", lambda m: "x" * int(m.group(1)), text)
    repeated = base64.b64encode(f"{WRITE_KEY}:".encode() * 800).decode()
    return text.replace("{WRITE_KEY_BASE64_REPEATED:800}", repeated)


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_corpus(service: ServeProcess, path: Path) -> None:
    entry = json.loads(path.read_text())
    headers = {k: _fill(v) for k, v in entry.get("headers", {}).items()}
    auth = {"write_key": BASIC, "admin": BEARER, "none": None}[entry["auth"]]
    if auth is not None:
        headers.setdefault("Authorization", auth)
    if "body_text" in entry:
        body = _fill(entry["body_text"]).encode()
    elif "body" in entry:
        body = json.dumps(entry["body"]).encode()
    else:
        body = b""
    headers["Content-Type"] = "application/json"
    status, answer = send(service, entry["method"], entry["path"], body, headers)
    document = check_answer(status, answer)
    expect = entry["expect"]
    assert status == expect["status"], document
    if "code" in expect:
        assert document["code"] == expect["code"]
    if "rejected" in expect:
        assert [{k: r[k] for k in ("index", "code")} for r in document["rejected"]] == expect["rejected"]
    if "result_status" in expect:
        assert [line.get("status") for line in document["results"]] == expect["result_status"]


# -- hypothesis ---------------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)
offsets = st.sampled_from(["", "Z", "+00:00", "+14:00", "-14:00", "+05:30", "-23:59", "+24:00", " "])
dates = st.one_of(
    st.tuples(st.datetimes(), offsets).map(lambda d: d[0].isoformat() + d[1]),
    st.sampled_from(["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "2024-02-30", "", "now"]),
    st.integers(-(2**40), 2**40),
    json_values,
)
ids = st.one_of(
    st.text(max_size=12), st.integers(), st.sampled_from(["", ".", "..", "a\x00b", "\x00"]), json_values
)
events = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["track", "identify", "page", "screen", "group", "alias", "nope", ""]),
        "userId": ids,
        "anonymousId": ids,
        "messageId": ids,
        "event": st.one_of(st.text(max_size=12), json_values),
        "groupId": ids,
        "previousId": ids,
        "name": json_values,
        "timestamp": dates,
        "originalTimestamp": dates,
        "sentAt": dates,
        "properties": json_values,
        "traits": json_values,
        "context": json_values,
        "integrations": json_values,
    },
)


VALID = {"type": "track", "userId": "u", "event": "E"}


@st.composite
def event_text(draw: st.DrawFn) -> str:
    """An event's JSON (half of them valid but for one or two fields), sometimes with a value nested
    1-1,100 levels deep under properties/context/traits."""
    event = draw(events)
    if draw(st.booleans()):
        event = {**VALID, **dict(list(event.items())[:2])}
    text = json.dumps(event)
    if draw(st.booleans()):
        depth = draw(st.integers(1, 1100))
        key = draw(st.sampled_from(["properties", "context", "traits"]))
        event.pop(key, None)
        deep = '{"a":' * depth + "1" + "}" * depth
        text = json.dumps(event)[:-1] + ("," if event else "") + f'"{key}":{deep}' + "}"
    return text


@st.composite
def ingest_requests(draw: st.DrawFn) -> tuple[str, str]:
    """A (path, body) for an ingest route: one event, or a batch envelope around several."""
    if draw(st.booleans()):
        return draw(st.sampled_from(INGEST_PATHS)), draw(event_text())
    items = draw(st.lists(event_text(), max_size=5))
    envelope = {"sentAt": draw(dates), "context": draw(json_values)} if draw(st.booleans()) else {}
    body = json.dumps(envelope)[:-1] + ("," if envelope else "") + '"batch":[' + ",".join(items) + "]}"
    return draw(st.sampled_from(BATCH_PATHS)), body


def _encoded(body: bytes, gzipped: bool, headers: dict[str, str]) -> bytes:
    if not gzipped:
        return body
    headers["Content-Encoding"] = "gzip"
    return gzip.compress(body)


@settings(max_examples=1500 if SOAK else 150, deadline=None, suppress_health_check=list(HealthCheck))
@given(request=ingest_requests(), gzipped=st.booleans(), latin1=st.booleans())
def test_fuzzed_ingest_routes(
    service: ServeProcess, request: tuple[str, str], gzipped: bool, latin1: bool
) -> None:
    path, text = request
    body = text.encode("latin-1", "replace") if latin1 else text.encode("utf-8", "surrogatepass")
    headers = {"Authorization": BASIC, "Content-Type": "application/json"}
    status, answer = send(service, "POST", path, _encoded(body, gzipped, headers), headers)
    document = check_answer(status, answer)
    if status == 200:
        assert document["success"] is True and set(document) <= {"success", "rejected"}


admin_paths = st.one_of(
    st.sampled_from(["/admin/stats", "/admin/dead-letters", "/admin/reload", "/admin/preview"]),
    st.text(max_size=10).map(lambda t: f"/admin/dead-letters/{quote(t, safe='')}"),
    st.tuples(st.text(max_size=6), st.text(max_size=6)).map(
        lambda q: f"/admin/dead-letters?limit={quote(q[0])}&after={quote(q[1])}"
    ),
    st.sampled_from(["/admin/dead-letters/replay", "/admin/dead-letters/purge", "/admin/preview?batch=true"]),
    ids.map(lambda i: f"/admin/users/{quote(str(i), safe='').replace('.', '%2E') or '%20'}/delete"),
)
admin_bodies = st.one_of(
    event_text(),
    st.lists(event_text(), max_size=4).map(lambda items: "[" + ",".join(items) + "]"),
    json_values.map(json.dumps),
    st.fixed_dictionaries({"ids": st.lists(st.integers(-(2**70), 2**70), max_size=3)}).map(json.dumps),
    st.text(max_size=30),
)


@settings(max_examples=1000 if SOAK else 100, deadline=None, suppress_health_check=list(HealthCheck))
@given(method=st.sampled_from(["GET", "POST"]), path=admin_paths, body=admin_bodies, gzipped=st.booleans())
def test_fuzzed_admin_routes(service: ServeProcess, method: str, path: str, body: str, gzipped: bool) -> None:
    headers = {"Authorization": BEARER, "Content-Type": "application/json"}
    raw = _encoded(body.encode("utf-8", "surrogatepass"), gzipped, headers)
    status, answer = send(service, method, path, raw, headers)
    check_answer(status, answer)


def test_no_error_or_traceback_was_logged(service: ServeProcess) -> None:
    """Run last: bad input is answered, never logged as an error of the service."""
    log = service.log_text()
    assert "Traceback" not in log and " ERROR " not in log, log[-3000:]
    assert_no_secrets([log])
