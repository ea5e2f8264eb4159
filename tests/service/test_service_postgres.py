"""Nodes sharing a PostgreSQL store: an ingest-only node and a delivery-only node, one Gleap rate limit."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
import yaml

from gleap_actions.config import load_config
from gleap_actions.queue.postgres.ratelimit import PostgresRateLimiter, project_key
from gleap_actions.sandbox import SandboxThread
from gleap_actions.service import Service

from .conftest import TOKEN, post, wait_for, write_config

pytestmark = pytest.mark.postgres


async def test_ingest_node_and_delivery_node_share_the_queue_and_the_limit(
    sandbox: SandboxThread, postgres_url: str, tmp_path: Path
) -> None:
    path = write_config(tmp_path, sandbox.url)
    document = yaml.safe_load(path.read_text())
    document["storage"]["url"] = postgres_url
    path.write_text(yaml.safe_dump(document))
    config = load_config(path)
    ingest, deliver = Service(config, role="ingest"), Service(config, role="deliver")
    await ingest.start()
    await deliver.start()
    try:
        assert ingest.pipeline is None and deliver.ingest is None
        assert deliver.pipeline is not None and isinstance(
            deliver.pipeline.budget.limiter("track"), PostgresRateLimiter
        )
        batch = {"batch": [{"type": "track", "userId": f"u{i}", "event": "E"} for i in range(20)]}
        assert (await post(ingest.url, "/v1/batch", batch))[0] == 200
        await wait_for(lambda: sandbox.state.event_count() == 20)
        with psycopg.connect(postgres_url) as conn:
            keys = conn.execute("SELECT key FROM rate_limits").fetchall()
        # The bucket is the project's track endpoint's (identify has its own); the token is not stored.
        assert keys == [(f"{project_key(TOKEN)}:track",)]
    finally:
        await ingest.stop(timeout=2)
        await deliver.stop(timeout=2)


async def test_two_sources_two_projects_on_shared_postgres_nodes(
    sandbox: SandboxThread, postgres_url: str, tmp_path: Path
) -> None:
    # Two Gleap projects: `main` (the test sandbox) and `other` (a second sandbox with its own token).
    with SandboxThread(api_token="other-project-token") as other:
        document = {
            "server": {"host": "127.0.0.1", "port": 0},
            "storage": {"url": postgres_url, "data_dir": str(tmp_path / "data")},
            "delivery": {"linger": 0.05},
            "sources": [
                {"name": "web", "write_keys": ["wk-web"], "destinations": ["main", "other"]},
                {"name": "app", "write_keys": ["wk-app"], "destinations": ["other"]},
            ],
            "destinations": [
                {"name": "main", "gleap": {"api_token": TOKEN, "base_url": sandbox.url}},
                {"name": "other", "gleap": {"api_token": "other-project-token", "base_url": other.url}},
            ],
        }
        path = tmp_path / "c.yaml"
        path.write_text(yaml.safe_dump(document))
        config = load_config(path)
        # PostgreSQL routes in the delivering node: the source stored with each event decides.
        ingest, deliver = Service(config, role="ingest"), Service(config, role="deliver")
        await ingest.start()
        await deliver.start()
        try:
            web = {"batch": [{"type": "track", "userId": f"w{i}", "event": "Web"} for i in range(5)]}
            app = {"batch": [{"type": "track", "userId": f"a{i}", "event": "App"} for i in range(3)]}
            assert (await post(ingest.url, "/v1/batch", web, key="wk-web"))[0] == 200
            assert (await post(ingest.url, "/v1/batch", app, key="wk-app"))[0] == 200
            await wait_for(lambda: other.state.event_count() == 8 and sandbox.state.event_count() == 5)
            assert {e["name"] for e in sandbox.state.events()} == {"Web"}
            with psycopg.connect(postgres_url) as conn:
                keys = {row[0] for row in conn.execute("SELECT key FROM rate_limits")}
            # Each project has its own budget.
            assert keys == {f"{project_key(TOKEN)}:track", f"{project_key('other-project-token')}:track"}
        finally:
            await ingest.stop(timeout=2)
            await deliver.stop(timeout=2)


async def test_a_reload_that_changes_only_a_token_budgets_the_new_project(
    sandbox: SandboxThread, postgres_url: str, tmp_path: Path
) -> None:
    # A shared limiter is keyed by the token: after the token changes, requests count against the new
    # project's bucket, not the old one's.
    document = {
        "server": {"host": "127.0.0.1", "port": 0},
        "storage": {"url": postgres_url, "data_dir": str(tmp_path / "data")},
        "delivery": {"linger": 0.05},
        "destinations": [
            {"name": "main", "gleap": {"api_token": "old-project-token", "base_url": sandbox.url}},
        ],
        "sources": [{"name": "web", "write_keys": ["wk-web"]}],
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(document))
    service = Service(load_config(path))
    await service.start()
    try:
        document["destinations"][0]["gleap"]["api_token"] = TOKEN  # the sandbox's: the old one was refused
        path.write_text(yaml.safe_dump(document))
        assert (await service.reload())["ok"]
        event = {"type": "track", "userId": "u1", "event": "After"}
        assert (await post(service.url, "/v1/track", event, key="wk-web"))[0] == 200
        await wait_for(lambda: sandbox.state.event_count() == 1)
        with psycopg.connect(postgres_url) as conn:
            keys = {row[0] for row in conn.execute("SELECT key FROM rate_limits")}
        assert keys == {f"{project_key(TOKEN)}:track"}  # the old project's bucket was never used
    finally:
        await service.stop(timeout=2)
