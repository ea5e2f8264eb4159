import subprocess
import sys


def test_version_runs_as_a_real_process() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "gleap_actions", "--version"], capture_output=True, text=True, check=True
    )
    assert "gleap-actions, version" in out.stdout
