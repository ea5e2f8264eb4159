"""The mapping benchmark still runs (a very short run; the figures themselves are not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parents[2] / "bench" / "bench_mapping.py"


def test_the_benchmark_runs_and_writes_its_results(tmp_path: Path) -> None:
    output = tmp_path / "mapping.json"
    args = [sys.executable, str(BENCH), "--events", "200", "--repeat", "1", "--output", str(output)]
    run = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "mapping, single event" in run.stdout
    results = json.loads(output.read_text())
    assert results["events"] == 200
    assert set(results["ratio_to_baseline"]) == set(results["events_per_second"])
    assert all(rate > 0 for rate in results["events_per_second"].values())
