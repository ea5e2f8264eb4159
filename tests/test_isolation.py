"""The suite never touches the developer's ./data or settings: each test runs in an empty directory of
its own, without GLEAP_* variables (tests/conftest.py), so `scripts/serve` then `scripts/test` is safe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_tests_run_in_their_own_empty_directory() -> None:
    assert Path.cwd().resolve() != ROOT.resolve() and list(Path.cwd().iterdir()) == []
    assert not [name for name in os.environ if name.startswith("GLEAP_") and "TEST" not in name]


def test_a_command_with_default_settings_never_sees_the_repository_queue() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gleap_actions", "dlq", "list"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and "No queue at data/queue.db." in result.stderr
    assert not Path("data").exists()
