"""bench/bench_audiences_live.py runs (its in-process initial sync, tiny sizes; figures are not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_audiences_live.py"


def test_initial_sync_benchmark_runs(tmp_path: Path) -> None:
    output = tmp_path / "live.json"
    command = [sys.executable, str(BENCH), "--skip-serve", "--sync-events", "300", "--sync-users", "30"]
    run = subprocess.run([*command, "--output", str(output)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    sync = json.loads(output.read_text())["initial_sync"]
    assert sync["first_sync_state"] == sync["second_sync_state"] == "live"
    assert sync["profile_rows"]["profiles"] == 30
