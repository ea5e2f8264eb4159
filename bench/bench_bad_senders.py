"""Honest senders beside senders of bad events: does one bad event hurt the others?

The flood of issue 12: `--honest` senders post batches of valid track events while `--bad` senders post
batches whose every event has a NUL (U+0000) in its `userId` (half of them) or `messageId` (the others),
for `--seconds`, against a real `gleap-actions serve` (PostgreSQL with `--store postgres`, where text
refuses NUL; or SQLite) delivering to the sandbox. Prints the answers each kind of sender got, the serve
log's size and its tracebacks. Baseline: the honest senders alone, same duration, same run.

    .venv/bin/python bench/bench_bad_senders.py [--store postgres|sqlite] [--seconds 8]
        [--honest 12] [--bad 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import psycopg
import urllib3

sys.path.insert(0, str(Path(__file__).parent))
from harness import WRITE_KEY, SandboxProcess, ServeProcess

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
BATCH = 20


def _sender(url: str, kind: str, number: int, until: float, answers: Counter[str]) -> None:
    http = urllib3.PoolManager(retries=False, timeout=30.0)
    headers = urllib3.make_headers(basic_auth=f"{WRITE_KEY}:")
    headers["Content-Type"] = "application/json"
    field = ("userId", "messageId")[number % 2]
    while time.monotonic() < until:
        events = []
        for _ in range(BATCH):
            event = {
                "type": "track",
                "userId": f"{kind}{number}",
                "event": "E",
                "messageId": uuid.uuid4().hex,
            }
            if kind == "bad":
                event[field] = "x\x00y"
            events.append(event)
        response = http.request(
            "POST", url + "/v1/batch", body=json.dumps({"batch": events}), headers=headers
        )
        answers[str(response.status)] += 1


def run(store: str, seconds: float, honest: int, bad: int) -> dict[str, object]:
    """One run: the answers by kind of sender, the log's size and tracebacks."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    store_url = None
    if store == "postgres":
        with psycopg.connect(POSTGRES, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        store_url = POSTGRES + "?options=" + quote(f"-csearch_path={schema}", safe="")
    try:
        with SandboxProcess(lean=True) as sandbox, ServeProcess(sandbox.url, store_url=store_url) as serve:
            answers = {"honest": Counter[str](), "bad": Counter[str]()}
            until = time.monotonic() + seconds
            threads = [
                threading.Thread(target=_sender, args=(serve.url, kind, n, until, answers[kind]))
                for kind, count in (("honest", honest), ("bad", bad))
                for n in range(count)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            log = serve.log.read_text()
            return {
                "honest": dict(answers["honest"]),
                "bad": dict(answers["bad"]),
                "log_bytes": len(log.encode()),
                "tracebacks": log.count("Traceback"),
            }
    finally:
        if store == "postgres":
            with psycopg.connect(POSTGRES, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--honest", type=int, default=12)
    parser.add_argument("--bad", type=int, default=2)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    baseline = run(args.store, args.seconds, args.honest, 0)
    attacked = run(args.store, args.seconds, args.honest, args.bad)
    print(
        f"| {args.store}, {args.seconds:g} s, {args.honest} honest senders | honest answers | bad answers "
        "| log bytes | tracebacks |"
    )
    print("|---|---|---|---:|---:|")
    for name, result in (("honest alone (baseline)", baseline), (f"with {args.bad} bad senders", attacked)):
        cells = [name, result["honest"], result["bad"], result["log_bytes"], result["tracebacks"]]
        print("| " + " | ".join(str(cell) for cell in cells) + " |")
    if args.output is not None:
        args.output.write_text(json.dumps({"baseline": baseline, "attacked": attacked}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
