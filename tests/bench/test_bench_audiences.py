"""bench/bench_audiences.py runs (tiny sizes; figures are not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_audiences.py"


def test_audiences_benchmark_runs(tmp_path: Path) -> None:
    output = tmp_path / "audiences.json"
    command = [sys.executable, str(BENCH), "--profiles", "20", "--events", "10", "--repeat", "1"]
    run = subprocess.run([*command, "--output", str(output)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "evaluate_20" in run.stdout
    assert set(json.loads(output.read_text())["rates"]) == {
        "baseline_orjson",
        "read_profile",
        "evaluate_20",
        "next_change_20",
    }
