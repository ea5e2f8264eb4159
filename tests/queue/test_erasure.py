"""Deleting a user leaves no trace of them in the store's files (SQLite: the database, its WAL and shared
memory; PostgreSQL: every table's contents), though another user's dead letter held a batch with them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import psycopg
import pytest

from gleap_actions.queue.factory import open_store
from gleap_actions.queue.store import NewEvent, Store

ALICE = {
    "type": "identify",
    "userId": "alice-7f3a9",
    "anonymousId": "anon-alice-19c2",
    "traits": {"email": "alice.x@example.org", "nickname": "Zebulon-4411"},
}
TRACES = ("alice-7f3a9", "anon-alice-19c2", "alice.x@example.org", "Zebulon-4411")


def stored(n: int, event: dict[str, object]) -> NewEvent:
    user = event.get("userId")
    return NewEvent(
        "src", f"m-{n}", user if isinstance(user, str) else None, "track", time.time(), orjson.dumps(event)
    )


def batch_request(*events: dict[str, object]) -> str:
    """A dead-lettered batch request as delivery records it: every user's entry in one body."""
    entries = [
        {"name": "Signed Up", "userId": e["userId"], "data": {"traits": e.get("traits", {})}} for e in events
    ]
    return orjson.dumps(
        {"method": "POST", "url": "http://gleap/admin/track", "headers": {}, "body": {"events": entries}}
    ).decode()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "postgres":
        yield request.getfixturevalue("postgres_url")
    else:
        yield str(tmp_path / "queue.db")


def raw_contents(location: str) -> bytes:
    """Everything the store keeps, as bytes: the SQLite files, or every PostgreSQL table's rows."""
    if not location.startswith("postgresql"):
        return b"".join(p.read_bytes() for p in Path(location).parent.glob("queue.db*"))
    parts: list[bytes] = []
    with psycopg.connect(location) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        ).fetchall()
        for (table,) in tables:
            for row in conn.execute(f"SELECT * FROM {table}").fetchall():
                parts += [v if isinstance(v, bytes) else str(v).encode() for v in row]
    return b"\n".join(parts)


def test_deleting_a_user_masks_them_in_other_users_records(location: str) -> None:
    store: Store = open_store(location).store
    bob = {"type": "identify", "userId": "bob-2", "traits": {"email": "bob@example.org"}}
    store.append([stored(1, ALICE), stored(2, bob), stored(3, {**bob, "type": "track"})])
    claimed = store.claim_unrouted("router", 10, 30)
    store.route([(e.id, ["A"]) for e in claimed])
    alice_d, bob_d, bob_later = store.claim_deliveries("w", "A", 10, 30, time.time())
    response = orjson.dumps({"status": 400, "body": '{"error": "invalid contact alice.x@example.org"}'})
    store.dead_letter(
        [alice_d.id, bob_d.id],
        reason="HTTP 400",
        status=400,
        request=batch_request(ALICE, bob),
        response=response.decode(),
    )
    store.retry([bob_later.id], at=time.time() + 60, error="HTTP 503 for alice-7f3a9", now=time.time())
    assert all(trace.encode() in raw_contents(location) for trace in TRACES)

    assert store.drop_user("alice-7f3a9") == 0  # her one event was dead-lettered: none left to deliver
    [letter] = store.list_dead_letters()
    full = store.get_dead_letter(letter.id)
    assert full is not None
    entries = orjson.loads(full.request)["body"]["events"]
    assert entries == [
        {"erased": True},
        {"name": "Signed Up", "userId": "bob-2", "data": {"traits": bob["traits"]}},
    ]
    assert "[erased]" in full.response
    contents = raw_contents(location)
    assert [trace for trace in TRACES if trace.encode() in contents] == []
    assert b"bob@example.org" in contents  # the other user's data is kept
    store.close()
    assert [trace for trace in TRACES if trace.encode() in raw_contents(location)] == []
