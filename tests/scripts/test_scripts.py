"""scripts/serve and scripts/test as real processes, with a stand-in .venv/bin/python logging its calls."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).parent.parent.parent
FAKE_PYTHON = """#!/usr/bin/env bash
echo "$*" >> "$(dirname "$0")/../../calls.log"
"""


def _checkout(tmp_path: Path) -> Path:
    """The scripts and lock files in a fresh folder, with a .venv whose python only logs what it is asked."""
    for name in ("scripts", "requirements.lock", "requirements-dev.lock", "pyproject.toml"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name)
        else:
            shutil.copy(source, tmp_path / name)
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    return tmp_path


def _run(folder: Path, script: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(["bash", str(folder / "scripts" / script)], capture_output=True, text=True, env=env)


def test_serve_installs_the_runtime_lock_only_and_says_so(tmp_path: Path) -> None:
    folder = _checkout(tmp_path)
    result = _run(folder, "serve")
    assert result.returncode == 0, result.stderr
    calls = (folder / "calls.log").read_text().splitlines()
    assert any("-r requirements.lock" in call for call in calls)
    assert not any("requirements-dev.lock" in call or "-e ." in call for call in calls)
    assert calls[-1] == "-m gleap_actions serve"
    assert "Installing the pinned runtime dependencies (requirements.lock)" in result.stderr
    # Installed once: the next start goes straight to serve.
    (folder / "calls.log").unlink()
    assert _run(folder, "serve").returncode == 0
    assert (folder / "calls.log").read_text().splitlines() == ["-m gleap_actions serve"]


def test_test_script_installs_the_dev_lock(tmp_path: Path) -> None:
    folder = _checkout(tmp_path)
    _run(folder, "test")  # the tools are stand-ins: only the install steps matter here
    calls = (folder / "calls.log").read_text().splitlines()
    assert any("-r requirements-dev.lock" in call for call in calls)
    assert any("-e ." in call for call in calls)
