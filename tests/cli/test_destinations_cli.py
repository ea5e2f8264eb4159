"""The commands with several destinations, as real processes: check-auth and delete-user per destination
(two sandboxes), `dlq waiting` and `dlq discard` for a destination removed from the config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from gleap_actions.ingest.tracking import source_id
from gleap_actions.queue.sqlite.store import SQLiteStore
from gleap_actions.queue.store import NewEvent, Route
from gleap_actions.sandbox import SandboxThread


@pytest.fixture
def second() -> Iterator[SandboxThread]:
    with SandboxThread(api_token="second-token") as running:
        yield running


def write(tmp_path: Path, destinations: list[dict[str, object]]) -> Path:
    path = tmp_path / "c.yaml"
    document = {"storage": {"data_dir": str(tmp_path / "data")}, "destinations": destinations}
    path.write_text(yaml.safe_dump(document))
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLEAP_")}
    return subprocess.run(
        [sys.executable, "-m", "gleap_actions", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_check_auth_and_delete_user_per_destination(
    sandbox: SandboxThread, sandbox_token: str, second: SandboxThread, tmp_path: Path
) -> None:
    config = write(
        tmp_path,
        [
            {"name": "one", "gleap": {"api_token": sandbox_token, "base_url": sandbox.url}},
            {"name": "two", "gleap": {"api_token": "wrong", "base_url": second.url}},
        ],
    )
    checked = run("check-auth", "--config", str(config))
    assert checked.returncode == 1
    assert checked.stdout.startswith("one: Credentials are valid")
    assert checked.stderr.startswith("two: Credentials are invalid: 401")
    assert run("check-auth", "--config", str(config), "--destination", "one").returncode == 0
    assert run("check-auth", "--config", str(config), "--destination", "nope").returncode == 2

    SQLiteStore(tmp_path / "data" / "queue.db").close()
    for box in (sandbox, second):
        box.state.identify("gone", {})
    deleted = run("delete-user", "gone", "--config", str(config), "--destination", "one")
    assert deleted.returncode == 0, deleted.stderr
    assert sandbox.state.contact("gone") is None and second.state.contact("gone") is not None


def test_delete_user_reaches_the_destinations_of_the_users_sources(
    sandbox: SandboxThread, sandbox_token: str, second: SandboxThread, tmp_path: Path
) -> None:
    path = tmp_path / "c.yaml"
    document = {
        "storage": {"data_dir": str(tmp_path / "data")},
        "destinations": [
            {"name": "one", "gleap": {"api_token": sandbox_token, "base_url": sandbox.url}},
            {"name": "two", "gleap": {"api_token": "second-token", "base_url": second.url}},
        ],
        "sources": [
            {"name": "web", "write_keys": ["wk-web"], "destinations": ["one"]},
            {"name": "app", "write_keys": ["wk-app"], "destinations": ["two"]},
        ],
    }
    path.write_text(yaml.safe_dump(document))
    store = SQLiteStore(tmp_path / "data" / "queue.db")
    store.append([NewEvent(source_id("wk-app"), "m1", "app-user", "identify", time.time(), b"{}")])
    store.close()
    for box in (sandbox, second):
        for user in ("app-user", "unknown-user"):
            box.state.identify(user, {})
    deleted = run("delete-user", "app-user", "--config", str(path))
    assert deleted.returncode == 0, deleted.stderr
    assert second.state.contact("app-user") is None and sandbox.state.contact("app-user") is not None
    # No stored event tells the user's source: every destination a source feeds is asked.
    deleted = run("delete-user", "unknown-user", "--config", str(path))
    assert deleted.returncode == 0, deleted.stderr
    assert second.state.contact("unknown-user") is None and sandbox.state.contact("unknown-user") is None


def test_waiting_deliveries_of_a_removed_destination_are_listed_and_discarded(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    store = SQLiteStore(data / "queue.db")
    route = Route(("kept/Track Event", "removed/Track Event"))
    store.append([NewEvent("s", "m1", "u", "track", time.time(), b"{}", route)])
    store.close()
    config = write(tmp_path, [{"name": "kept"}])
    waiting = run("dlq", "waiting", "--config", str(config))
    assert waiting.returncode == 0, waiting.stderr
    assert [json.loads(line) for line in waiting.stdout.splitlines()] == [
        {"mapping": "removed/Track Event", "waiting": 1}
    ]
    assert run("dlq", "discard", "kept/Track Event", "--config", str(config)).returncode == 2
    discarded = run("dlq", "discard", "removed/Track Event", "--config", str(config))
    assert discarded.returncode == 0 and "Discarded 1" in discarded.stdout
    listed = run(
        "dlq", "list", "--config", str(config), "--destination", "removed", "--mapping", "Track Event"
    )
    assert [json.loads(line)["reason"] for line in listed.stdout.splitlines()] == ["unconfigured"]
    assert run("dlq", "waiting", "--config", str(config)).stdout == ""


def test_dlq_filters_by_destination_mapping_reason_and_status(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    store = SQLiteStore(data / "queue.db")
    route = Route(("eu/Track Event", "eu/Page", "Track Event"))
    store.append([NewEvent("s", f"m{i}", "u", "track", time.time(), b"{}", route) for i in range(2)])
    for key, reason, status in (("eu/Track Event", "rejected", 400), ("eu/Page", "timeout", None)):
        claimed = store.claim_deliveries("w", key, 10, 30, time.time())
        store.dead_letter([d.id for d in claimed], reason=reason, status=status, request="{}", response="")
    store.close()
    config = write(tmp_path, [{"name": "default"}, {"name": "eu"}])

    def listed(*options: str) -> list[tuple[str, str]]:
        done = run("dlq", "list", "--config", str(config), *options)
        assert done.returncode == 0, done.stderr
        return [(d["destination"], d["mapping"]) for d in map(json.loads, done.stdout.splitlines())]

    assert listed("--destination", "eu") == [("eu", "eu/Track Event")] * 2 + [("eu", "eu/Page")] * 2
    assert listed("--destination", "eu", "--mapping", "Page") == [("eu", "eu/Page")] * 2
    assert (
        listed("--destination", "eu", "--reason", "rejected", "--status", "400")
        == [("eu", "eu/Track Event")] * 2
    )
    assert listed("--destination", "default") == []
    replayed = run("dlq", "replay", "--config", str(config), "--destination", "eu", "--reason", "timeout")
    assert (replayed.returncode, replayed.stdout.strip()) == (0, "Replayed 2 dead letter(s).")
    assert listed() == [("eu", "eu/Track Event")] * 2
    assert run("dlq", "purge", "--config", str(config), "--status", "99").returncode == 2
