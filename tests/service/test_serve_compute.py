"""A real `gleap-actions serve` process and its compute stage: definitions reloaded on SIGHUP (a new one
synced over the events accepted before it, a removed one unset), and the compute child process restarted
after kill -9 and stopped with the service, at a lower scheduling priority than serve."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import yaml

from gleap_actions.sandbox import SandboxThread

from .conftest import write_config
from .test_serve_process import Served, _env, _post, _wait

CLICKERS = {"name": "Clickers", "definition": "event('Clicked').count() >= 1"}
SIGNED_UP = {"name": "Signed Up Users", "definition": "event('Signed Up').count() >= 1"}


def _contact(sandbox: SandboxThread, user: str) -> dict[str, Any]:
    return sandbox.state.contact(user) or {}


def _rewrite(config: Path, **sections: Any) -> None:
    document = yaml.safe_load(config.read_text())
    document.update(sections)
    config.write_text(yaml.safe_dump(document))


def test_sighup_syncs_an_added_audience_over_earlier_events_and_unsets_a_removed_one(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    sections = {"audiences": [CLICKERS], "audiences_on_removal": "unset"}
    config = write_config(tmp_path, sandbox.url, sections=sections)
    served = Served(["--config", str(config)], _env())
    try:
        assert (
            _post(served.url + "/v1/identify", {"userId": "r1", "traits": {"email": "r1@example.com"}}) == 200
        )
        assert _post(served.url + "/v1/track", {"userId": "r1", "event": "Signed Up"}) == 200
        _wait(lambda: sandbox.state.event_count("r1") == 1, timeout=30)
        assert "signed_up_users" not in _contact(sandbox, "r1")

        _rewrite(config, audiences=[CLICKERS, SIGNED_UP])
        served.process.send_signal(signal.SIGHUP)
        # The sign-up was accepted before the audience existed: the sync reads it back from the queue.
        _wait(lambda: _contact(sandbox, "r1").get("signed_up_users") is True, timeout=60)

        _rewrite(config, audiences=[CLICKERS])
        served.process.send_signal(signal.SIGHUP)
        _wait(lambda: _contact(sandbox, "r1").get("signed_up_users") is False, timeout=60)
        assert _contact(sandbox, "r1")["email"] == "r1@example.com"
    finally:
        code, output = served.stop()
    assert code == 0, output
    assert "event=audience_backfill" in output


def _compute_child(serve_pid: int) -> int | None:
    """The pid of serve's compute child process, if one runs."""
    for task in Path(f"/proc/{serve_pid}/task").iterdir():
        try:
            children = (task / "children").read_text().split()
        except FileNotFoundError:  # a thread that just ended
            continue
        for pid in children:
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
            except FileNotFoundError:
                continue
            if b"spawn_main" in command and b"resource_tracker" not in command:
                return int(pid)
    return None


def _gone(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "State:\tZ" in status


def test_the_compute_child_is_restarted_after_kill_9_and_stops_with_the_service(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    config = write_config(tmp_path, sandbox.url, sections={"audiences": [CLICKERS], "audiences_nice": 7})
    served = Served(["--config", str(config)], _env())
    child = _compute_child(served.process.pid)
    try:
        assert child is not None
        # Derived work: the child lowers its own priority below serve's as soon as it runs.
        serve_nice = os.getpriority(os.PRIO_PROCESS, served.process.pid)
        _wait(lambda: os.getpriority(os.PRIO_PROCESS, child) == serve_nice + 7, timeout=30)
        assert _post(served.url + "/v1/track", {"userId": "k1", "event": "Clicked"}) == 200
        _wait(lambda: _contact(sandbox, "k1").get("clickers") is True, timeout=30)

        os.kill(child, signal.SIGKILL)
        _wait(lambda: (_compute_child(served.process.pid) or child) != child, timeout=30)
        assert _post(served.url + "/v1/track", {"userId": "k2", "event": "Clicked"}) == 200
        _wait(lambda: _contact(sandbox, "k2").get("clickers") is True, timeout=60)
        child = _compute_child(served.process.pid)
        assert child is not None
    finally:
        code, output = served.stop()
    assert code == 0, output
    assert "event=compute_process_ended" in output and "exit_code=-9" in output
    assert f"event=compute_process_stopped pid={child} exit_code=0" in output  # stopped, not killed
    _wait(lambda: _gone(child), timeout=10)
