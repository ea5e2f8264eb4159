"""The store benchmark still runs (a very short run; the figures themselves are not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[2] / "bench" / "bench_store.py"


@pytest.mark.postgres
def test_the_benchmark_runs_and_writes_its_results(tmp_path: Path, postgres_server: str) -> None:
    output = tmp_path / "store.json"
    args = [
        sys.executable,
        str(BENCH),
        "--duration",
        "0.2",
        "--processes",
        "1,2",
        "--retention-events",
        "2000",
    ]
    run = subprocess.run(
        [*args, "--postgres", postgres_server, "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "x sqlite-1" in run.stdout
    results = json.loads(output.read_text())["results"]
    assert [(row["store"], row["processes"]) for row in results] == [
        ("sqlite", 1),
        ("sqlite", 2),
        ("postgres", 1),
        ("postgres", 2),
    ]
    assert all(row["append_per_s"] > 0 and row["claim_per_s"] > 0 for row in results)
    retention = json.loads(output.read_text())["retention"]
    assert [(row["store"], row["mechanism"], row["events"]) for row in retention] == [
        ("sqlite", "batched deletes", 2000),
        ("postgres", "row deletes", 2000),
        ("postgres", "rotation (drop partition)", 2000),
    ]
