"""`gleap-actions send` as a real process: it always ends, says what happened, and never sends twice."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gleap_actions.sandbox import Faults, SandboxThread

from .conftest import TOKEN, write_config
from .test_serve_process import CLI, _env

FIXTURE = Path(__file__).parent.parent / "data" / "segment-export-2024.jsonl"


@pytest.fixture
def sandbox() -> Iterator[SandboxThread]:
    with SandboxThread(api_token=TOKEN, faults=Faults(rate_limit=None)) as running:
        yield running


def _events(tmp_path: Path, count: int, user: str = "s1") -> Path:
    path = tmp_path / "events.jsonl"
    lines = [json.dumps({"type": "track", "userId": user, "event": f"Backfill {i}"}) for i in range(count)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _send(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "send", *args], capture_output=True, text=True, env=_env(), timeout=timeout)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_refused_token_stops_at_once(sandbox: SandboxThread, tmp_path: Path) -> None:
    config = write_config(tmp_path, sandbox.url, token="not-the-token")
    result = _send(str(_events(tmp_path, 5)), "--config", str(config))
    assert result.returncode == 1
    assert "Gleap refused the API token (HTTP 401)" in result.stderr
    assert "not delivered (still queued)" in result.stderr and "not-the-token" not in result.stderr


def test_unreachable_gleap_gives_up_with_a_summary(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"http://127.0.0.1:{_closed_port()}", retry_window=3600)
    result = _send(str(_events(tmp_path, 3)), "--config", str(config), "--give-up-after", "2")
    assert result.returncode == 3
    assert "Gave up: no request got through for 2 s" in result.stderr
    not_delivered = [line for line in result.stderr.splitlines() if "not delivered" in line]
    assert not_delivered and not_delivered[0].split()[-1] == "3"


def test_rejected_events_are_listed_with_their_reason(sandbox: SandboxThread, tmp_path: Path) -> None:
    config = write_config(tmp_path, sandbox.url)
    path = tmp_path / "mixed.jsonl"
    fine = '{"type":"track","userId":"ok","event":"Fine"}'
    path.write_text(fine + '\n{"type":"track","anonymousId":"a","event":"No user"}\n')
    result = _send(str(path), "--config", str(config))
    assert result.returncode == 1
    assert "rejected 1 x Track Event:" in result.stderr and "userId" in result.stderr
    assert sandbox.state.event_count("ok") == 1


def test_an_unknown_type_is_an_invalid_line_as_in_preview(tmp_path: Path) -> None:
    path = tmp_path / "types.jsonl"
    path.write_text('{"type":"track","userId":"ok","event":"Fine"}\n{"type":"purchase","userId":"ok"}\n')
    result = _send(str(path), "--data-dir", str(tmp_path / "data"), "--sandbox")
    assert result.returncode == 1
    assert "line 2: type must be one of track, identify, page, screen, group, alias" in result.stderr
    assert "delivered: Track Event" in result.stderr


def test_a_rerun_never_sends_again_what_was_delivered(sandbox: SandboxThread, tmp_path: Path) -> None:
    config = write_config(tmp_path, sandbox.url)
    events = tmp_path / "export.jsonl"
    lines = [json.dumps({"type": "track", "userId": "r1", "event": f"No id {i}"}) for i in range(3)]
    events.write_text(FIXTURE.read_text() + "\n".join(lines) + "\n")
    first = _send(str(events), "--config", str(config))
    assert first.returncode == 0, first.stderr
    requests = sandbox.state.request_count()
    delivered = sandbox.state.event_count()
    second = _send(str(events), "--config", str(config))
    assert second.returncode == 0, second.stderr
    assert sandbox.state.request_count() == requests and sandbox.state.event_count() == delivered
    [already] = [line for line in second.stderr.splitlines() if "already sent by an earlier run" in line]
    assert already.split()[-1] == "8"
    assert (tmp_path / "data" / "send").is_dir()  # the documented place of the send queue


def test_ctrl_c_prints_a_summary_and_a_rerun_finishes_the_job(sandbox: SandboxThread, tmp_path: Path) -> None:
    # Identify calls are never batched: with one request at a time and a slow Gleap, SIGINT lands mid-run.
    config = write_config(tmp_path, sandbox.url, max_concurrency=1)
    sandbox.set_faults(latency=0.2)
    events = tmp_path / "contacts.jsonl"
    lines = [json.dumps({"type": "identify", "userId": f"c{i}", "traits": {"n": i}}) for i in range(100)]
    events.write_text("\n".join(lines) + "\n")
    process = subprocess.Popen(
        [*CLI, "send", str(events), "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    deadline = time.monotonic() + 60
    while len(sandbox.state.contacts()) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Interrupted" in err and "delivered: Identify Contact" in err
    assert "Unclosed" not in err and "Traceback" not in err
    sent_before = sandbox.state.request_count("identify")
    assert 0 < sent_before < 100

    sandbox.set_faults(latency=0.0)
    again = _send(str(events), "--config", str(config))
    assert again.returncode == 0, again.stderr
    assert len(sandbox.state.contacts()) == 100
    assert sandbox.state.request_count("identify") == 100  # none sent twice


def test_send_sandbox_is_a_dry_run_over_real_http(tmp_path: Path) -> None:
    result = _send(str(FIXTURE), "--data-dir", str(tmp_path / "data"), "--sandbox")
    assert result.returncode == 0, result.stderr
    assert "Sent to the built-in Gleap sandbox" in result.stderr
    assert "delivered: Track Event" in result.stderr and "delivered: Identify Contact" in result.stderr
    assert not (tmp_path / "data").exists()  # nothing is remembered


def test_without_a_token_send_points_to_sandbox(tmp_path: Path) -> None:
    result = _send(str(FIXTURE), "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 2 and "--sandbox" in result.stderr
