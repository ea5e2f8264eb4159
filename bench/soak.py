"""The long forms of the reliability scenarios (tests/reliability), with their figures.

    .venv/bin/python bench/soak.py [--report FILE] [-k EXPRESSION]

Runs `pytest tests/reliability` with GLEAP_ACTIONS_SOAK=1: 30 kills -9 under load, one-minute outages (503,
refused connections, no answer), a one-minute 429 storm, thousands of fuzzed requests. Each scenario appends
one line of figures (sent, accepted, delivered, dead-lettered, lost, duplicates) to the report, printed at
the end. Every load is bounded; the whole run takes about ten minutes on two cores.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    """Run the soak and print the figures; the exit code is pytest's."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--report", type=Path, default=Path("soak-report.txt"), help="where figures go")
    parser.add_argument("-k", dest="select", help="only the scenarios matching this pytest -k expression")
    args = parser.parse_args()
    report = args.report.resolve()
    report.write_text("")
    env = {**os.environ, "GLEAP_ACTIONS_SOAK": "1", "GLEAP_ACTIONS_SOAK_REPORT": str(report)}
    command = [
        sys.executable,
        "-m",
        "pytest",
        "tests/reliability",
        "-q",
        "-p",
        "no:cacheprovider",
        "--timeout=900",
    ]
    if args.select:
        command += ["-k", args.select]
    started = time.monotonic()
    code = subprocess.run(command, cwd=ROOT, env=env).returncode
    print(f"\nsoak finished in {time.monotonic() - started:.0f} s (pytest exit {code}); figures:")
    print(report.read_text(), end="")
    return code


if __name__ == "__main__":
    sys.exit(main())
