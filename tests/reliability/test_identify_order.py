"""Identifies under Gleap's limits, with real `serve` processes and the sandbox: a backlog queued during an
outage ends with every contact as if its identifies were sent in order, in about one request per user;
order holds across kill -9 and across two delivery nodes on PostgreSQL; a user Gleap keeps refusing
holds back no other user.

Each user's identifies arrive shuffled (arrival order is not event order): the contacts can only end
right if delivery follows the events' timestamps.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from gleap_actions.sandbox import Faults, Outage, SandboxState, SandboxThread

from .conftest import StartServe
from .harness import Client, ServeProcess, free_port, wait_until, write_config

STEPS = 20  # trait updates per user: plan p0..p19, step 0..19
T0 = time.time() - 3600  # the users' first identify happened an hour ago, then one a second


def identify(user: str, step: int) -> dict[str, Any]:
    """The user's `step`-th identify: the first also sets an email, which later ones do not send."""
    traits: dict[str, Any] = {"plan": f"p{step}", "step": step}
    if step == 0:
        traits["email"] = f"{user}@example.com"
    at = datetime.fromtimestamp(T0 + step, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "type": "identify",
        "userId": user,
        "traits": traits,
        "timestamp": at,
        "messageId": f"{user}-{step}",
    }


def post_shuffled(client: Client, users: list[str], seed: int = 15) -> None:
    """Every user's identifies, in a shuffled arrival order, in batches of 100 (each answered 200)."""
    calls = [identify(user, step) for user in users for step in range(STEPS)]
    random.Random(seed).shuffle(calls)
    for start in range(0, len(calls), 100):
        status, body = client.post("/v1/batch", {"batch": calls[start : start + 100]})
        assert status == 200, body


def final_contact(user: str) -> dict[str, Any]:
    """What applying the user's identifies in event order leaves on the contact (the keys we check)."""
    last = identify(user, STEPS - 1)
    return {
        "userId": user,
        "email": f"{user}@example.com",
        "plan": "p19",
        "step": 19,
        "lastActivity": last["timestamp"],
    }


def shown(contact: dict[str, Any] | None, user: str) -> dict[str, Any]:
    """The keys of `final_contact` as the contact has them."""
    return {key: (contact or {}).get(key) for key in final_contact(user)}


def contacts_final(state: SandboxState, users: list[str]) -> bool:
    contacts = state.contacts()
    return all(shown(contacts.get(user), user) == final_contact(user) for user in users)


def assert_contacts_final(state: SandboxState, users: list[str]) -> None:
    contacts = state.contacts()
    for user in users:
        assert shown(contacts.get(user), user) == final_contact(user), user


def assert_applied_in_order(state: SandboxState, users: list[str]) -> None:
    """Each contact received its updates in event order: the step never went back."""
    for user in users:
        steps = [body["step"] for body in state.identifies(user)]
        assert steps == sorted(steps), f"{user}: identifies applied out of order: {steps}"


def end_outage_once_requeued(sandbox: SandboxThread, users: list[str], **faults: Any) -> None:
    """End the outage (setting `faults`) once no request planned before now can reach a contact.

    A claim takes a user's queue as it is then (an event stored after it goes out after it), and
    requests wait a little for the rate budget, so one planned while the identifies were arriving may be
    sent after they are all stored. A user has one claim out at a time (its later requests are given
    back when one fails), so its second request the outage refuses from now on was claimed from now on,
    with the user's whole queue."""
    seen = max((r.seq for r in sandbox.state.requests()), default=0)
    refused: Counter[str] = Counter()

    def requeued() -> bool:
        nonlocal seen
        for request in sandbox.state.requests(endpoint="identify"):
            body = request.json_body()
            if request.seq > seen and request.fault == "outage" and isinstance(body, dict):
                refused[str(body.get("userId"))] += 1
        seen = max([seen, *(r.seq for r in sandbox.state.requests())])
        return all(refused[user] >= 2 for user in users)

    wait_until(requeued, 120, "every user's queue claimed whole in the outage")
    sandbox.set_faults(outage=None, **faults)


def users_named(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{n:03d}" for n in range(count)]


def test_backlog_after_an_outage_ends_in_order_in_about_one_request_per_user(
    sandbox: SandboxThread, serve: StartServe
) -> None:
    users = users_named("backlog", 100)
    sandbox.set_faults(outage=Outage(duration=3600))
    service = serve(sandbox.url)
    client = Client(service.url)
    post_shuffled(client, users)
    wait_until(lambda: sandbox.state.request_count("identify") > 0, 60, "a delivery attempt in the outage")
    end_outage_once_requeued(sandbox, users)  # retries met the outage meanwhile
    wait_until(client.queue_empty, 120, "backlog drained after the outage")

    assert client.dead_letters() == []
    assert_contacts_final(sandbox.state, users)
    assert_applied_in_order(sandbox.state, users)
    counts = sandbox.state.identify_counts()
    # One merged request per user; a second only where a user's queue was split by timing (a claim that
    # took its first identifies while the rest were still arriving, both retried at different times).
    assert max(counts.values()) <= 2, counts
    assert sum(counts.values()) <= 2 * len(users)


def test_order_holds_across_kill9_mid_drain(sandbox: SandboxThread, tmp_path: Path) -> None:
    users = users_named("kill9", 20)
    # Queued whole before delivery starts (events arriving after a later one was sent are sent after it).
    sandbox.set_faults(outage=Outage(duration=3600), latency=0.1)
    # Coalescing off: one request per identify, a long drain to kill in the middle of.
    config = write_config(
        tmp_path, sandbox.url, port=free_port(), max_concurrency=2, requests_per_minute=60000
    )
    document = yaml.safe_load(config.read_text())
    document["mappings"] = [{"name": "Identify Contact", "action": "identifyContact", "coalesce": False}]
    config.write_text(yaml.safe_dump(document))
    service = ServeProcess(config, tmp_path / "serve.log").start()
    try:
        client = Client(service.url)
        post_shuffled(client, users)
        end_outage_once_requeued(sandbox, users)
        wait_until(lambda: sum(sandbox.state.identify_counts().values()) >= 100, 120, "drain under way")
        service.kill9()
        service.start()
        wait_until(Client(service.url).queue_empty, 300, "drained after the restart")
        assert_contacts_final(sandbox.state, users)
        assert_applied_in_order(sandbox.state, users)
    finally:
        service.stop()


@pytest.mark.postgres
def test_order_holds_across_two_delivery_nodes_on_postgresql(
    sandbox: SandboxThread, tmp_path: Path, postgres_url: str
) -> None:
    users = users_named("nodes", 30)
    sandbox.set_faults(outage=Outage(duration=3600))  # until everything is queued
    nodes: list[ServeProcess] = []
    try:
        for index in range(2):
            folder = tmp_path / f"node{index}"
            folder.mkdir()
            config = write_config(
                folder, sandbox.url, port=free_port(), max_concurrency=4, requests_per_minute=60000
            )
            document = yaml.safe_load(config.read_text())
            document["storage"]["url"] = postgres_url
            # Coalescing off on one node: both request shapes meet on the same queues.
            document["mappings"] = [
                {"name": "Identify Contact", "action": "identifyContact", "coalesce": index == 0}
            ]
            config.write_text(yaml.safe_dump(document))
            nodes.append(ServeProcess(config, folder / "serve.log").start())
        clients = [Client(node.url) for node in nodes]
        half = len(users) // 2
        post_shuffled(clients[0], users[:half], seed=1)
        post_shuffled(clients[1], users[half:], seed=2)
        # Gleap fails a third of the requests: retries everywhere, both nodes claiming the same queues.
        end_outage_once_requeued(sandbox, users, error_rate=0.3, latency=0.02, seed=7)
        wait_until(clients[0].queue_empty, 300, "drained by both nodes")
        assert_contacts_final(sandbox.state, users)
        assert_applied_in_order(sandbox.state, users)
        for client in clients:
            assert client.metric("gleap_actions_delivered_total") > 0, "both nodes delivered"
    finally:
        for node in nodes:
            node.stop()


def test_a_user_gleap_keeps_refusing_does_not_hold_back_the_others(
    sandbox: SandboxThread, serve: StartServe
) -> None:
    users = users_named("fine", 20)
    failing, rejected = "failing-user", "rejected-user"
    refusing = Faults(rate_limit=None, user_errors={failing: 500, rejected: 400})
    sandbox.set_faults(refusing, outage=Outage(duration=3600))  # until everything is queued
    service = serve(sandbox.url)
    client = Client(service.url)
    post_shuffled(client, [*users, failing, rejected])
    end_outage_once_requeued(sandbox, [*users, failing, rejected])
    wait_until(lambda: contacts_final(sandbox.state, users), 120, "the other users' contacts final")
    # The refused user's identifies are dead-lettered one by one (a 400 is split down to single events);
    # the failing one's keep being retried, in order, without ever reaching the contact.
    wait_until(lambda: len(client.dead_letters()) == STEPS, 120, "the rejected user's dead letters")
    assert {letter["event"]["messageId"] for letter in client.dead_letters()} == {
        f"{rejected}-{step}" for step in range(STEPS)
    }
    assert sandbox.state.contact(failing) is None
    status, stats = client.admin("GET", "/admin/stats")
    assert status == 200 and stats["pending"] + stats["in_flight"] == STEPS, stats
