"""Starting `gleap-actions serve` as a real process: the queue's destination, a port in use, the banner."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gleap_actions.sandbox import Faults, SandboxThread

from .conftest import TOKEN, write_config
from .test_serve_process import CLI, HTTP, Served, _env, _post


@pytest.fixture
def sandbox() -> Iterator[SandboxThread]:
    with SandboxThread(api_token=TOKEN, faults=Faults(rate_limit=None)) as running:
        yield running


def _serve(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "serve", *args], capture_output=True, text=True, env=_env(**env), timeout=60)


def test_a_backlog_for_gleap_never_goes_to_the_builtin_sandbox(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    config = write_config(tmp_path, sandbox.url, initial_backoff=60, max_backoff=60)
    sandbox.set_faults(error_rate=1.0, error_status=503)
    served = Served(["--config", str(config)], _env())
    try:
        assert _post(served.url + "/v1/track", {"userId": "q1", "event": "Queued"}) == 200
        deadline = time.monotonic() + 30
        while sandbox.state.request_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        served.stop()
    data_dir = str(tmp_path / "data")

    # Restarted without the token, the built-in sandbox would get the event: refused, saying what to do.
    refused = _serve("--data-dir", data_dir, "--port", "0")
    assert refused.returncode == 2, refused.stderr
    assert "1 undelivered item(s) accepted for " + sandbox.url in refused.stderr
    assert "--backlog deliver" in refused.stderr and "--backlog discard" in refused.stderr
    assert TOKEN not in refused.stderr and "Traceback" not in refused.stderr

    discarded = Served(["--data-dir", data_dir, "--port", "0", "--backlog", "discard"], _env())
    try:
        sandbox_url = re.search(r"sandbox at (http://\S+):", "".join(discarded.banner))
        assert sandbox_url
        answer = HTTP.request("GET", sandbox_url.group(1) + "/__sandbox/events")
        assert json.loads(answer.data)["total"] == 0
    finally:
        discarded.stop()
    # The queue now belongs to the sandbox: going back to Gleap with nothing pending just starts.
    sandbox.set_faults(error_rate=0.0)
    again = Served(["--config", str(config)], _env())
    again.stop()
    assert sandbox.state.event_count("q1") == 0


def test_port_in_use_is_one_line_and_starts_nothing(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _serve("--port", str(port), "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"Cannot listen on 127.0.0.1:{port}: Address already in use."
    ]
    assert not (tmp_path / "data").exists()


def test_banner_shows_the_bound_port_and_never_a_write_key(tmp_path: Path) -> None:
    served = Served(
        ["--port", "0", "--data-dir", str(tmp_path / "data")], _env(GLEAP_ACTIONS_WRITE_KEYS="wk-secret-123")
    )
    try:
        banner = "".join(served.banner)
        assert not served.url.endswith(":0") and HTTP.request("GET", served.url + "/health").status == 200
        assert "curl -u 'YOUR_WRITE_KEY:'" in banner and "wk-secret-123" not in banner
    finally:
        _, output = served.stop()
    assert "wk-secret-123" not in output
