"""`gleap-actions serve` and its companions as real processes: the first-run sandbox, SIGTERM, the official
Segment Python library as a client, and the `dlq`, `send` and `delete-user` commands."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import segment.analytics as segment_analytics
import urllib3

from gleap_actions.sandbox import SandboxThread

from .conftest import ADMIN_TOKEN, TOKEN, WRITE_KEY, write_config

CLI = [sys.executable, "-m", "gleap_actions"]
HTTP = urllib3.PoolManager(retries=False, timeout=5.0)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GLEAP_", "GLEAP_ACTIONS_"))}
    env.update(extra)
    return env


class Served:
    """A running `gleap-actions serve` process; its URL is read from the banner."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [*CLI, "serve", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        self.banner: list[str] = []
        assert self.process.stderr is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if not line:
                raise AssertionError(f"serve exited: {self.process.wait()} {self.banner}")
            self.banner.append(line)
            if "Health:" in line:
                break
        match = re.search(r"listening on (http://\S+)", "".join(self.banner))
        assert match, self.banner
        self.url = match.group(1)

    def stop(self) -> tuple[int, str]:
        self.process.send_signal(signal.SIGTERM)
        _, err = self.process.communicate(timeout=30)
        return self.process.returncode, "".join(self.banner) + err


def _post(url: str, body: object, key: str = WRITE_KEY) -> int:
    headers = urllib3.make_headers(basic_auth=f"{key}:")
    headers["Content-Type"] = "application/json"
    return HTTP.request("POST", url, body=json.dumps(body).encode(), headers=headers).status


def _get_json(url: str) -> object:
    return json.loads(HTTP.request("GET", url).data)


def _wait(check: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def test_first_run_without_token_delivers_to_the_builtin_sandbox(tmp_path: Path) -> None:
    served = Served(["--port", "0", "--data-dir", str(tmp_path / "data")], _env())
    try:
        banner = "".join(served.banner)
        assert "NO GLEAP API TOKEN CONFIGURED" in banner and "curl" in banner
        sandbox_url = re.search(r"built-in Gleap sandbox at (http://[0-9.]+:[0-9]+)", banner)
        assert sandbox_url
        assert _post(served.url + "/v1/track", {"userId": "first", "event": "Signed Up"}, key="any") == 200
        events_url = sandbox_url.group(1) + "/__sandbox/events"
        _wait(lambda: len(_get_json(events_url)["events"]) == 1)  # type: ignore[index]
    finally:
        code, _ = served.stop()
    assert code == 0


def test_sigterm_is_graceful_and_nothing_accepted_is_lost(sandbox: SandboxThread, tmp_path: Path) -> None:
    config = write_config(tmp_path, sandbox.url)
    served = Served(["--config", str(config)], _env())
    sandbox.set_faults(latency=0.3)  # deliveries are in flight when SIGTERM arrives
    batch = {"batch": [{"type": "track", "userId": "t1", "event": f"E{i}"} for i in range(200)]}
    assert _post(served.url + "/v1/batch", batch) == 200
    time.sleep(0.2)
    code, output = served.stop()
    assert code == 0
    for secret in (TOKEN, WRITE_KEY, ADMIN_TOKEN):
        assert secret not in output
    sandbox.set_faults(latency=0.0)
    # Whatever was not delivered before the stop is delivered by the next start.
    served = Served(["--config", str(config)], _env())
    try:
        _wait(lambda: sandbox.state.event_count("t1") == 200)
    finally:
        assert served.stop()[0] == 0
    assert sandbox.state.duplicate_count() == 0


def test_official_segment_python_library(sandbox: SandboxThread, tmp_path: Path) -> None:
    served = Served(["--config", str(write_config(tmp_path, sandbox.url))], _env())
    try:
        client = segment_analytics.Client(WRITE_KEY, host=served.url, sync_mode=True)
        client.identify("seg-1", {"email": "seg@example.com", "name": "Seg Ment"})
        client.track("seg-1", "Report Built", {"rows": 10})
        client.page("seg-1", "Docs", "Install", {"url": "https://example.com/docs"})
        client.screen("seg-1", "App", "Home")
        client.flush()
        _wait(lambda: sandbox.state.event_count("seg-1") == 3 and sandbox.state.contact("seg-1") is not None)
    finally:
        assert served.stop()[0] == 0
    contact = sandbox.state.contact("seg-1")
    assert contact is not None and contact["email"] == "seg@example.com"
    names = sorted(e["name"] for e in sandbox.state.events("seg-1"))
    assert names == ["Report Built", "pageView", "pageView"]


def test_dlq_commands(sandbox: SandboxThread, tmp_path: Path) -> None:
    config = write_config(tmp_path, sandbox.url)
    served = Served(["--config", str(config)], _env())
    try:
        assert _post(served.url + "/v1/track", {"anonymousId": "a", "event": "No user"}) == 200
        run = lambda *args: subprocess.run(  # noqa: E731
            [*CLI, "dlq", *args, "--config", str(config)], capture_output=True, text=True, env=_env()
        )
        _wait(lambda: run("list").stdout.strip() != "")
        [line] = run("list").stdout.strip().splitlines()
        letter = json.loads(line)
        assert letter["mapping"] == "Track Event" and "userId" in letter["reason"]
        shown = run("show", str(letter["id"]))
        assert shown.returncode == 0 and json.loads(shown.stdout)["event"]["event"] == "No user"
        assert TOKEN not in shown.stdout
        assert run("replay").returncode == 2  # says which: ids, --mapping or --all
        assert "Replayed 1" in run("replay", str(letter["id"])).stdout
        _wait(lambda: run("list").stdout.strip() != "")  # rejected again: the event still has no userId
        assert "Purged 1" in run("purge", "--all").stdout
        assert run("list").stdout.strip() == ""
        assert run("show", "999").returncode == 1
    finally:
        served.stop()


def test_send_delivers_a_file_and_reports(sandbox: SandboxThread, tmp_path: Path) -> None:
    config = write_config(tmp_path, sandbox.url)
    lines = [json.dumps({"type": "track", "userId": "s1", "event": f"Backfill {i}"}) for i in range(250)]
    lines.append(json.dumps({"type": "identify", "userId": "s1", "traits": {"plan": "team"}}))
    good = tmp_path / "good.jsonl"
    good.write_text("\n".join(lines) + "\n")
    result = subprocess.run(
        [*CLI, "send", str(good), "--config", str(config)], capture_output=True, text=True, env=_env()
    )
    assert result.returncode == 0, result.stderr
    assert sandbox.state.event_count("s1") == 250 and sandbox.state.contact("s1") is not None
    assert "delivered: Track Event" in result.stderr and "250" in result.stderr

    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"type": "track", "userId": "s2", "event": "Ok"}\nnot json\n{"type":"track","event":"x"}\n'
    )
    result = subprocess.run(
        [*CLI, "send", str(bad), "--config", str(config)], capture_output=True, text=True, env=_env()
    )
    assert result.returncode == 1
    assert "line 2: not valid JSON" in result.stderr
    assert sandbox.state.event_count("s2") == 1
    assert TOKEN not in result.stderr + result.stdout


def test_delete_user_command_drops_queued_events(sandbox: SandboxThread, tmp_path: Path) -> None:
    # After one failed attempt the event waits 30 s for its retry: it is queued when the user is deleted.
    config = write_config(tmp_path, sandbox.url, initial_backoff=30, max_backoff=60)
    sandbox.set_faults(error_rate=1.0, error_status=503)
    served = Served(["--config", str(config)], _env())
    try:
        assert _post(served.url + "/v1/track", {"userId": "d1", "event": "Queued"}) == 200
        _wait(lambda: sandbox.state.request_count() >= 1)
        sandbox.set_faults(error_rate=0.0)
        result = subprocess.run(
            [*CLI, "delete-user", "d1", "--config", str(config)], capture_output=True, text=True, env=_env()
        )
        assert result.returncode == 0, result.stderr
        assert "Dropped 1 queued event" in result.stdout
        time.sleep(1.0)
        assert sandbox.state.event_count("d1") == 0
    finally:
        served.stop()
