"""`check-auth` and `delete-user` against a small real Gleap-like HTTP server on 127.0.0.1 (any status)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from click.testing import CliRunner

from gleap_actions.cli import cli
from gleap_actions.queue.sqlite.store import SQLiteStore


@dataclass
class GleapServer:
    """Answers `status` to every request (401 without the right `Api-Token`) and records what it got."""

    token: str = "test-token"
    status: int = 200
    url: str = ""
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.raw_path, dict(request.headers)))
        if request.headers.get("Api-Token") != self.token:
            return web.json_response({"error": "unauthorized"}, status=401)
        return web.json_response({}, status=self.status)


@pytest.fixture
def gleap_server() -> Iterator[GleapServer]:
    server = GleapServer()
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    server.url = f"http://127.0.0.1:{port}"
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.run_until_complete(runner.cleanup())
        loop.close()


def queue(folder: Path) -> str:
    """An existing (empty) queue folder, as `serve` leaves it: delete-user works on it."""
    (folder / "data").mkdir(exist_ok=True)
    SQLiteStore(folder / "data" / "queue.db").close()
    return str(folder / "data")


def run(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def token_env(url: str, token: str = "test-token") -> dict[str, str]:
    return {"GLEAP_API_TOKEN": token, "GLEAP_BASE_URL": url, "GLEAP_ACTIONS_CONFIG": ""}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_check_auth_success_as_a_real_process(gleap_server: GleapServer) -> None:
    env = {**os.environ, **token_env(gleap_server.url)}
    done = subprocess.run(
        [sys.executable, "-m", "gleap_actions", "check-auth"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"Credentials are valid: Gleap answered 200 to GET {gleap_server.url}/admin/auth\n"
    ((method, path, headers),) = gleap_server.requests
    assert (method, path, headers["Api-Token"]) == ("GET", "/admin/auth", "test-token")
    assert "test-token" not in done.stdout + done.stderr


def test_check_auth_refused_token(gleap_server: GleapServer) -> None:
    code, out, err = run(["check-auth"], token_env(gleap_server.url, "wrong-token"))
    assert (code, out) == (1, "")
    assert err.startswith("Credentials are invalid: ")
    assert "401" in err
    assert "wrong-token" not in err


def test_check_auth_other_refusals_and_temporary_failures(gleap_server: GleapServer) -> None:
    gleap_server.status = 404
    code, _, err = run(["check-auth"], token_env(gleap_server.url))
    assert code == 1
    assert err.startswith("Credentials are invalid: ")
    assert "404" in err
    gleap_server.status = 503
    code, _, err = run(["check-auth"], token_env(gleap_server.url))
    assert code == 3
    assert err.startswith("Could not check the credentials: ")


def test_check_auth_unreachable_gleap_is_temporary() -> None:
    code, _, err = run(["check-auth"], token_env(f"http://127.0.0.1:{free_port()}"))
    assert code == 3
    assert err.startswith("Could not check the credentials: ")


def test_without_a_token_nothing_is_sent(gleap_server: GleapServer) -> None:
    env = {"GLEAP_BASE_URL": gleap_server.url, "GLEAP_API_TOKEN": "", "GLEAP_ACTIONS_CONFIG": ""}
    for args in (["check-auth"], ["delete-user", "u1"]):
        code, out, err = run(args, env)
        assert (code, out) == (2, "")
        assert err == (
            "No Gleap API token is configured: set gleap.api_token in the config file or GLEAP_API_TOKEN.\n"
        )
    assert gleap_server.requests == []


def test_an_invalid_config_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("gleap: {api_token: x, base_url: nope}\n")
    code, out, err = run(["check-auth", "--config", str(path)], {})
    assert (code, out) == (2, "")
    assert err == (
        "Invalid configuration (1 problem(s)):\n"
        "  gleap.base_url: expected an http:// or https:// URL, got a string ('nope')\n"
    )


def test_delete_user_percent_encodes_the_id(gleap_server: GleapServer, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(f'gleap: {{api_token: "${{MY_TOKEN}}", base_url: "{gleap_server.url}"}}\n')
    code, out, err = run(
        ["delete-user", "a b/c?d#e", "--config", str(path), "--data-dir", queue(tmp_path)],
        {"MY_TOKEN": "test-token"},
    )
    assert (code, err) == (0, "")
    assert out.endswith("Deleted the Gleap contact 'a b/c?d#e' (Gleap answered 200)\n")
    ((method, raw_path, headers),) = gleap_server.requests
    assert (method, raw_path, headers["Api-Token"]) == (
        "DELETE",
        "/admin/contacts/a%20b%2Fc%3Fd%23e",
        "test-token",
    )


def test_delete_user_of_an_unknown_contact_is_done(gleap_server: GleapServer, tmp_path: Path) -> None:
    gleap_server.status = 404
    code, out, _ = run(["delete-user", "ghost", "--data-dir", queue(tmp_path)], token_env(gleap_server.url))
    assert code == 0
    assert out == (
        "Dropped 0 queued event(s) of the user (not delivered yet).\n"
        "Gleap has no contact 'ghost': nothing to delete\n"
    )


@pytest.mark.parametrize(("status", "exit_code", "start"), [
    (401, 1, "Gleap refused the credentials: "),
    (400, 1, "Gleap refused the deletion: "),
    (500, 3, "Could not delete the contact, try again later: "),
    (429, 3, "Could not delete the contact, try again later: "),
])  # fmt: skip
def test_delete_user_failures(
    gleap_server: GleapServer, tmp_path: Path, status: int, exit_code: int, start: str
) -> None:
    gleap_server.status = status
    code, out, err = run(["delete-user", "u1", "--data-dir", queue(tmp_path)], token_env(gleap_server.url))
    assert (code, out) == (exit_code, "Dropped 0 queued event(s) of the user (not delivered yet).\n")
    assert err.startswith(start)
    assert "test-token" not in err


def test_check_auth_never_prints_credentials_in_the_base_url(gleap_server: GleapServer) -> None:
    url = gleap_server.url.replace("http://", "http://user:url-secret-41@")
    code, out, _ = run(["check-auth"], token_env(url))
    assert code == 0 and "url-secret-41" not in out
    shown = url.replace("user:url-secret-41", "***")
    assert out == f"Credentials are valid: Gleap answered 200 to GET {shown}/admin/auth\n"
