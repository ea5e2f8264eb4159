"""The sandbox benchmark still runs (a very short run; the figures themselves are not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parents[2] / "bench" / "bench_sandbox.py"


def test_the_benchmark_runs_and_writes_its_results(tmp_path: Path) -> None:
    output = tmp_path / "sandbox.json"
    args = [sys.executable, str(BENCH), "--duration", "0.2", "--concurrency", "4", "--output", str(output)]
    run = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "events/request" in run.stdout
    results = json.loads(output.read_text())["results"]
    assert [row["batch"] for row in results] == [1, 100]
    assert all(row["sandbox"]["requests"] > 0 and row["sandbox"]["errors"] == 0 for row in results)
