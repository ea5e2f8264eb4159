"""`gleap-actions sandbox` as a real subprocess."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

SECRET = "s3cret-sandbox-token-value"


@pytest.fixture
def run_sandbox() -> Iterator[Any]:
    """Start `gleap-actions sandbox` with arguments; yields (process, url); stops it afterwards."""
    processes: list[subprocess.Popen[str]] = []

    def start(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gleap_actions", "sandbox", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        processes.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        assert match, line + proc.stderr.read() if proc.stderr else line
        return proc, match.group(1)

    yield start
    for proc in processes:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()  # reaps it and closes the pipes


def finish(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """Wait for the process to exit; its remaining stdout and stderr."""
    proc.wait(timeout=10)
    assert proc.stdout is not None and proc.stderr is not None
    return proc.stdout.read(), proc.stderr.read()


def call(method: str, url: str, token: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Api-Token": token})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_cli_serves_with_the_token_from_the_environment_and_never_prints_it(run_sandbox: Any) -> None:
    proc, url = run_sandbox(env={"GLEAP_SANDBOX_TOKEN": SECRET})
    assert call("GET", url + "/admin/auth", SECRET) == (200, {"success": True})
    assert call("GET", url + "/admin/auth", "sandbox-token")[0] == 401
    event = {"name": "signup", "date": "2024-01-01T00:00:00.000Z", "userId": "u1"}
    assert call("POST", url + "/admin/track", SECRET, {"events": [event]})[0] == 200
    assert call("GET", url + "/__sandbox/events", SECRET)[1]["events"] == [event]
    proc.send_signal(signal.SIGTERM)
    out, err = finish(proc)
    assert proc.returncode == 0
    assert "Stopped: 3 requests, 1 events, 0 contacts." in out
    assert SECRET not in out + err
    assert "set (value not shown)" in out


def test_cli_fault_options_apply_at_start_and_faults_change_at_run_time(run_sandbox: Any) -> None:
    proc, url = run_sandbox(
        "--api-token", SECRET, "--error-rate", "1", "--error-status", "503", "--max-batch", "5"
    )
    assert call("GET", url + "/admin/auth", SECRET)[0] == 503
    status, faults = call("POST", url + "/__sandbox/faults", SECRET, {"error_rate": 0, "rate_limit": 2})
    assert (status, faults["max_batch"], faults["rate_limit"]) == (200, 5, 2)
    assert call("GET", url + "/admin/auth", SECRET)[0] == 200
    assert call("GET", url + "/admin/auth", SECRET)[0] == 429  # the 503 counted too
    proc.send_signal(signal.SIGINT)
    out, _ = finish(proc)
    assert proc.returncode == 0
    assert "error_rate=1.0" in out
    assert SECRET not in out


def test_cli_identify_and_track_rate_limits_apart(run_sandbox: Any) -> None:
    proc, url = run_sandbox("--api-token", SECRET, "--identify-rate-limit", "1", "--track-rate-limit", "0")
    assert call("POST", url + "/admin/identify", SECRET, {"userId": "u1"})[0] == 200
    assert call("POST", url + "/admin/identify", SECRET, {"userId": "u1"})[0] == 429
    event = {"name": "signup", "date": "2024-01-01T00:00:00.000Z", "userId": "u1"}
    assert all(call("POST", url + "/admin/track", SECRET, {"events": [event]})[0] == 200 for _ in range(3))
    proc.send_signal(signal.SIGINT)
    out, _ = finish(proc)
    assert "faults: rate limit 1000/60s, identify 1/60s, track unlimited" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--error-rate", "1.5"], "error_rate: must be between 0 and 1, got 1.5"),
        (["--outage", "0"], "outage: duration must be > 0"),
        (["--error-status", "404"], "'404' is not one of '500', '502', '503'"),
        (["--outage-mode", "refuse"], "--outage-mode and --outage-start need --outage SECONDS"),
    ],
)
def test_cli_rejects_bad_fault_options(args: list[str], message: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "gleap_actions", "sandbox", "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2
    assert message in out.stderr


def test_cli_reports_a_port_in_use(run_sandbox: Any) -> None:
    _, url = run_sandbox()
    port = url.rsplit(":", 1)[1]
    out = subprocess.run(
        [sys.executable, "-m", "gleap_actions", "sandbox", "--port", port],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr
