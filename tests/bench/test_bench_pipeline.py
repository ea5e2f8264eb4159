"""The delivery benchmark still runs (a very short run; the figures themselves are not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parents[2] / "bench" / "bench_pipeline.py"


def test_the_benchmark_runs_and_writes_its_results(tmp_path: Path) -> None:
    output = tmp_path / "pipeline.json"
    args = [sys.executable, str(BENCH), "--events", "2000", "--seconds", "0.5", "--output", str(output)]
    run = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "ratio pipeline/baseline" in run.stdout
    results = json.loads(output.read_text())
    assert results["backlog"]["pipeline_events_per_s"] > 0
    assert results["latency"]["events"] > 0  # how many a 0.5 s run sends depends on the machine
