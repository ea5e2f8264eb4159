"""The benchmarks without a smoke test file of their own still run (tiny sizes; figures are not asserted).

Every benchmark's smoke test lives in tests/bench: bench_transform, bench_mapping, bench_sandbox,
bench_pipeline and bench_store have a file each, the others are here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[2] / "bench"


def _run(script: str, *args: str, timeout: float = 120, env: dict[str, str] | None = None) -> str:
    run = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def test_fql_benchmark_runs(tmp_path: Path) -> None:
    output = tmp_path / "fql.json"
    stdout = _run("bench_fql.py", "--number", "200", "--output", str(output))
    assert "compiled" in stdout
    assert json.loads(output.read_text())["triggers"]


def test_ingest_benchmark_runs(tmp_path: Path) -> None:
    output = tmp_path / "ingest.json"
    _run("bench_ingest.py", "--duration", "0.3", "--concurrency", "2", "--output", str(output))
    results = json.loads(output.read_text())["results"]
    assert results["ingest"]["requests"] > 0 and results["baseline"]["requests"] > 0


@pytest.mark.timeout(180)
def test_end_to_end_benchmark_runs(tmp_path: Path) -> None:
    output = tmp_path / "e2e.json"
    args = ["--seconds", "0.5", "--events", "2000", "--latency-seconds", "0.5", "--baseline-seconds", "0.3"]
    _run("bench_e2e.py", *args, "--output", str(output), timeout=170)
    report = json.loads(output.read_text())
    assert report["saturation"]["complete"] and report["latency"]["complete"]
    assert report["saturation"]["rss_mb"]["peak"] > 0


@pytest.mark.timeout(180)
def test_backlog_benchmark_runs(tmp_path: Path) -> None:
    output = tmp_path / "backlog.json"
    args = ["--events", "2000", "--hold", "0.2", "--baseline-seconds", "0.3", "--output", str(output)]
    _run("bench_backlog.py", *args, timeout=170)
    report = json.loads(output.read_text())
    assert report["drain"]["complete"] and report["drain"]["delivered"] >= 2000


@pytest.mark.postgres
@pytest.mark.timeout(240)
def test_nodes_benchmark_runs(tmp_path: Path, postgres_server: str) -> None:
    output = tmp_path / "nodes.json"
    args = ["--processes", "1,2", "--seconds", "0.5", "--baseline-seconds", "0.3", "--output", str(output)]
    env = {**os.environ, "GLEAP_ACTIONS_BENCH_POSTGRES_URL": postgres_server}
    _run("bench_nodes.py", *args, timeout=230, env=env)
    runs = json.loads(output.read_text())["runs"]
    assert [(r["store"], r["processes"]) for r in runs] == [
        ("sqlite", 1),
        ("sqlite", 2),
        ("postgres", 1),
        ("postgres", 2),
    ]
    assert all(r["complete"] and r["delivered"] == r["accepted"] > 0 for r in runs)


def test_console_benchmark_runs(tmp_path: Path) -> None:
    output = tmp_path / "console.json"
    stdout = _run(
        "bench_console.py",
        "--events",
        "2000",
        "--dead-letters",
        "10",
        "--repeat",
        "2",
        "--output",
        str(output),
    )
    assert "slowest console page" in stdout
    assert json.loads(output.read_text())["pages"]["/console/overview"]["median_ms"] > 0


def test_preview_benchmark_runs(tmp_path: Path) -> None:
    output = tmp_path / "preview.json"
    _run("bench_preview.py", "--events", "300", "--repeat", "1", "--output", str(output))
    report = json.loads(output.read_text())
    assert report["jobs 2"]["batch"]["wall_events_per_s"] > 0


def test_destinations_benchmark_runs(tmp_path: Path) -> None:
    output = tmp_path / "destinations.json"
    stdout = _run("bench_destinations.py", "--events", "300", "--destinations", "2", "--output", str(output))
    assert "per event routed" in stdout
    report = json.loads(output.read_text())
    assert report["several"]["destinations"] == 2 and report["several"]["complete"]


@pytest.mark.timeout(180)
def test_identify_benchmark_runs(tmp_path: Path) -> None:
    output = tmp_path / "identify.json"
    _run("bench_identify.py", "--users", "10", "--rounds", "2", "--output", str(output), timeout=170)
    report = json.loads(output.read_text())
    assert [(r["scenario"], r["coalesce"]) for r in report["runs"]] == [
        ("live", False),
        ("live", True),
        ("backlog", False),
        ("backlog", True),
    ]
    assert all(s["same_contacts"] for s in report["summary"].values())


def test_claims_benchmark_runs(tmp_path: Path) -> None:
    output = tmp_path / "claims.json"
    _run("bench_claims.py", "--events", "300", "--users", "10", "--output", str(output))
    results = json.loads(output.read_text())["results"]
    assert results["1"]["claim_ack_per_cpu_s"] > 0 and results["10"]["append_per_cpu_s"] > 0


def test_budget_benchmark_runs(tmp_path: Path) -> None:
    output = tmp_path / "budget.json"
    args = ["--per-minute", "600", "--seconds", "1", "--runs", "1", "--drain-events", "2000"]
    stdout = _run("bench_budget.py", *args, "--output", str(output), timeout=170)
    assert "per_endpoint" in stdout and "track drain" in stdout
    report = json.loads(output.read_text())
    assert report["drain"][0]["events"] == 2000 and report["budgets"]["summary"]["shared"]
