"""`gleap-actions serve` on PostgreSQL while two senders send events with a NUL (U+0000) in their ids: the
honest senders are unaffected (every batch answered 200 and stored), the bad events are refused with 400
naming the field, and the log holds no traceback.

Before the fix each bad event failed the group commit it shared with honest requests (PostgreSQL's text
refuses NUL): honest senders got 503 and the log grew a traceback per request.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path

import psycopg
import pytest
import urllib3
import yaml

from gleap_actions.sandbox import Faults, SandboxThread

from .conftest import TOKEN, WRITE_KEY, write_config
from .test_serve_process import Served, _env

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

HONEST_SENDERS = 6
BAD_SENDERS = 2
BATCHES = 25
BATCH_SIZE = 20


def send(url: str, batches: list[list[dict[str, object]]], answers: Counter[tuple[int, str]]) -> None:
    http = urllib3.PoolManager(retries=False, timeout=30.0)
    headers = urllib3.make_headers(basic_auth=f"{WRITE_KEY}:")
    headers["Content-Type"] = "application/json"
    for batch in batches:
        response = http.request("POST", url + "/v1/batch", body=json.dumps({"batch": batch}), headers=headers)
        code = json.loads(response.data).get("code", "")
        answers[(response.status, code)] += 1


def test_nul_senders_leave_honest_senders_unaffected(tmp_path: Path, postgres_url: str) -> None:
    with SandboxThread(api_token=TOKEN, faults=Faults(rate_limit=None)) as sandbox:
        config = write_config(tmp_path, sandbox.url)
        document = yaml.safe_load(config.read_text())
        document["storage"]["url"] = postgres_url
        config.write_text(yaml.safe_dump(document))
        served = Served(["--config", str(config)], _env())
        honest: list[Counter[tuple[int, str]]] = [Counter() for _ in range(HONEST_SENDERS)]
        bad: list[Counter[tuple[int, str]]] = [Counter() for _ in range(BAD_SENDERS)]
        threads = []
        for s, answers in enumerate(honest):
            batches = [
                [
                    {"type": "track", "userId": f"h{s}", "event": "E", "messageId": f"h{s}-{b}-{i}"}
                    for i in range(BATCH_SIZE)
                ]
                for b in range(BATCHES)
            ]
            threads.append(threading.Thread(target=send, args=(served.url, batches, answers)))
        for s, answers in enumerate(bad):
            field = ("userId", "messageId")[s % 2]
            batches = [
                [
                    {
                        "type": "track",
                        "userId": "n",
                        "event": "E",
                        "messageId": f"n{s}-{b}-{i}",
                        field: "x\x00y",
                    }
                    for i in range(BATCH_SIZE)
                ]
                for b in range(BATCHES * 2)
            ]
            threads.append(threading.Thread(target=send, args=(served.url, batches, answers)))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        code, log = served.stop()

    assert code == 0
    for answers in honest:
        assert answers == Counter({(200, ""): BATCHES})
    for answers in bad:
        assert answers == Counter({(400, "invalid_field"): BATCHES * 2})
    assert "Traceback" not in log and "ingest_commit_failed" not in log
    with psycopg.connect(postgres_url) as conn:
        [(stored,)] = conn.execute("SELECT count(*) FROM events").fetchall()
    assert stored == HONEST_SENDERS * BATCHES * BATCH_SIZE
