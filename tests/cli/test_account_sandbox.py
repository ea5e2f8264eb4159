"""`check-auth` and `delete-user` as real processes against the Gleap sandbox."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gleap_actions.queue.sqlite.store import SQLiteStore
from gleap_actions.sandbox import SandboxThread


@pytest.fixture
def sandbox_token() -> str:
    return "sandbox-secret"


def gleap_actions(*args: str, url: str, token: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GLEAP_API_TOKEN": token, "GLEAP_BASE_URL": url, "GLEAP_ACTIONS_CONFIG": ""}
    return subprocess.run(
        [sys.executable, "-m", "gleap_actions", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_check_auth(sandbox: SandboxThread) -> None:
    good = gleap_actions("check-auth", url=sandbox.url, token="sandbox-secret")
    assert (good.returncode, good.stderr) == (0, "")
    assert good.stdout == f"Credentials are valid: Gleap answered 200 to GET {sandbox.url}/admin/auth\n"
    bad = gleap_actions("check-auth", url=sandbox.url, token="not-the-token")
    assert (bad.returncode, bad.stdout) == (1, "")
    assert bad.stderr == "Credentials are invalid: 401 Unauthorized\n"


def test_delete_user_removes_the_contact(sandbox: SandboxThread, tmp_path: Path) -> None:
    sandbox.state.identify("user 1/é", {"email": "a@example.com"})
    SQLiteStore(tmp_path / "queue.db").close()
    where = ("--data-dir", str(tmp_path))
    done = gleap_actions("delete-user", "user 1/é", *where, url=sandbox.url, token="sandbox-secret")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.endswith("Deleted the Gleap contact 'user 1/é' (Gleap answered 200)\n")
    assert sandbox.state.contact("user 1/é") is None
    again = gleap_actions("delete-user", "user 1/é", *where, url=sandbox.url, token="sandbox-secret")
    assert again.returncode == 0
    assert again.stdout.endswith("Gleap has no contact 'user 1/é': nothing to delete\n")


@pytest.mark.parametrize("command", [["delete-user", "u1"], ["dlq", "list"]])
def test_a_missing_queue_is_an_error_naming_it(
    sandbox: SandboxThread, tmp_path: Path, command: list[str]
) -> None:
    missing = tmp_path / "nowhere"
    requests = sandbox.state.request_count()
    result = gleap_actions(*command, "--data-dir", str(missing), url=sandbox.url, token="sandbox-secret")
    assert result.returncode == 2
    assert f"No queue at {missing / 'queue.db'}." in result.stderr
    assert not missing.exists() and sandbox.state.request_count() == requests


@pytest.mark.parametrize(
    ("user_id", "path"), [("..", "/admin/contacts/%2E%2E"), (".", "/admin/contacts/%2E")]
)
def test_delete_user_dot_segments(sandbox: SandboxThread, tmp_path: Path, user_id: str, path: str) -> None:
    """`..` once became `DELETE /admin/`: a 404 reported as "nothing to delete", and the contact stayed."""
    sandbox.state.identify(user_id, {"email": "dots@example.com"})
    sandbox.state.identify("bystander", {"email": "b@example.com"})
    SQLiteStore(tmp_path / "queue.db").close()
    where = ("--data-dir", str(tmp_path))
    done = gleap_actions("delete-user", user_id, *where, url=sandbox.url, token="sandbox-secret")
    assert (done.returncode, done.stderr) == (0, "")
    assert sandbox.state.contact(user_id) is None and sandbox.state.contact("bystander") is not None
    assert sandbox.state.requests(endpoint="delete")[-1].path == path
