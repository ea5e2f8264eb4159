"""`gleap-actions preview --jobs N`: worker processes, the same bytes as one process, failures surfaced."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
from click.testing import CliRunner

from gleap_actions.cli import cli

TS = "2024-01-02T03:04:05.000Z"
EXPORT = Path(__file__).parents[1] / "data" / "segment-export-2024.jsonl"
CONFIG = """
mappings:
  - {name: T, action: trackEvent, batching: {size: 7, bytes: 1500}}
  - {name: U, action: trackEvent, batching: false}
  - {name: I, action: identifyContact}
"""


def mixed_lines(count: int, seed: int = 7) -> list[bytes]:
    """`count` lines of every kind preview reports (all dated, so that two runs print the same bytes)."""
    rng = random.Random(seed)
    export = EXPORT.read_bytes().splitlines()
    kinds = [
        lambda i: {"type": "track", "event": f"E{i % 5}", "userId": f"u{i}", "timestamp": TS},
        lambda i: {"type": "page", "name": "Home", "userId": f"u{i}", "timestamp": TS},
        lambda i: {
            "type": "track",
            "event": "Big",
            "userId": "u",
            "timestamp": TS,
            "properties": {"t": "x" * 900},
        },
        lambda i: {
            "type": "identify",
            "userId": f"u{i}",
            "traits": {"email": f"{i}@example.com"},
            "timestamp": TS,
        },
        lambda i: {"type": "track", "event": "No user", "anonymousId": "a", "timestamp": TS},  # rejected
        lambda i: {
            "type": "track",
            "event": "F",
            "userId": "u",
            "timestamp": TS,
            "integrations": {"All": False},
        },
        lambda i: {"type": "group", "groupId": "g", "userId": "u", "timestamp": TS},  # unmatched
        lambda i: {"type": "track"},  # not a valid Segment event
    ]
    lines = []
    for i in range(count):
        draw = rng.random()
        if draw < 0.02:
            lines.append(rng.choice([b"{not json", b"", b"   ", b"[1, 2]", b'{"type": "track", "event": 42']))
        elif draw < 0.04:
            lines.append(rng.choice(export))
        else:
            lines.append(orjson.dumps(rng.choice(kinds)(i)))
    return lines


def run(events: Path, *args: str, config: Path | None = None) -> bytes:
    """stdout of a real `gleap-actions preview` process (exit 0)."""
    env = {**os.environ, "GLEAP_ACTIONS_CONFIG": str(config) if config else ""}
    command = [sys.executable, "-m", "gleap_actions", "preview", str(events), *args]
    done = subprocess.run(command, env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_two_jobs_print_the_bytes_of_one(tmp_path: Path) -> None:
    events, config = tmp_path / "events.jsonl", tmp_path / "c.yaml"
    events.write_bytes(b"\n".join(mixed_lines(12_000)) + b"\n")  # several chunks: batches of 7 cross them
    config.write_text(CONFIG)
    for mode in ([], ["--batch"]):
        one = run(events, *mode, "--jobs", "1", config=config)
        assert run(events, *mode, "--jobs", "2", config=config) == one
        assert run(events, *mode, config=config) == one  # the default: the CPUs available
        lines = [orjson.loads(line) for line in one.splitlines()]
        assert {"line", "filtered", "unmatched", "error"} <= {key for line in lines for key in line}
    batches = [orjson.loads(line) for line in one.splitlines() if b'"event_indices"' in line]
    assert {len(b["event_indices"]) for b in batches if b["mapping"] == "T"} >= {1, 7}  # full and split


def test_the_segment_export_and_a_file_without_final_newline(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(EXPORT.read_bytes().splitlines() * 1_500))  # no newline at the end
    for mode in ([], ["--batch"]):
        assert run(events, *mode, "--jobs", "2") == run(events, *mode, "--jobs", "1")


def test_events_without_dates_share_one_instant_across_workers(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    undated = orjson.dumps({"type": "track", "event": "Now", "userId": "u"})
    events.write_bytes((undated + b"\n") * 10_000)
    lines = [orjson.loads(line) for line in run(events, "--jobs", "2").splitlines()]
    assert [line["event_index"] for line in lines] == list(range(10_000))
    assert len({line["body"]["events"][0]["date"] for line in lines}) == 1


def _children(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(entry.name))
        except (OSError, IndexError):
            continue
    return children


def _start_with_workers(tmp_path: Path) -> tuple[subprocess.Popen[bytes], list[int]]:
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(mixed_lines(60_000)) + b"\n")
    env = {**os.environ, "GLEAP_ACTIONS_CONFIG": ""}
    process = subprocess.Popen(
        [sys.executable, "-m", "gleap_actions", "preview", str(events), "--batch", "--jobs", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
        # As from a terminal: a suite run as a background job inherits SIGINT ignored, and so would preview.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while len(workers := _children(process.pid)) < 2:
        assert process.poll() is None and time.monotonic() < deadline, "no workers started"
        time.sleep(0.01)
    # Held where they are, so the preview cannot finish before the test has done what it is about (on an
    # idle machine the whole file takes well under a second).
    for pid in workers:
        os.kill(pid, signal.SIGSTOP)
    return process, workers


def _resume(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


def _gone(pids: list[int]) -> bool:
    deadline = time.monotonic() + 60
    while any(Path(f"/proc/{pid}").exists() for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_worker_that_dies_is_an_error_not_a_hang(tmp_path: Path) -> None:
    process, workers = _start_with_workers(tmp_path)
    os.kill(workers[0], signal.SIGKILL)
    _resume(workers[1:])
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1
    assert b"a preview worker ended before sending its results" in stderr
    assert _gone(workers)


def test_ctrl_c_ends_the_workers_too(tmp_path: Path) -> None:
    process, workers = _start_with_workers(tmp_path)
    os.killpg(process.pid, signal.SIGINT)  # as a terminal's Ctrl+C: the whole process group
    _resume(workers)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1
    assert b"Aborted!" in stderr and b"Traceback" not in stderr
    assert _gone(workers)


def test_help_documents_jobs() -> None:
    result = CliRunner().invoke(cli, ["preview", "--help"])
    text = " ".join(result.output.split())
    assert "--jobs INTEGER RANGE" in text and "The output is the same for any number." in text
