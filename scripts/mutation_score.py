"""The mutation score of one or more targets of scripts/mutation, from mutmut's per-mutant results.

    python scripts/mutation_score.py engine.fql engine.mapping engine.fields engine.core engine
    python scripts/mutation_score.py deliver --survivors

Each target's results are read from build/mutation/<target>/mutants/**/*.meta. A mutant checked by
several targets takes the verdict of the last target named that checked it, so naming the package-wide
target last counts its re-check of the parts' survivors against all the package's tests.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

# mutmut's exit codes (mutmut/stats.py); anything else is "suspicious"
STATUS = {
    1: "killed",
    3: "killed",
    0: "survived",
    5: "no tests",
    33: "no tests",
    34: "skipped",
    36: "timeout",
    -24: "timeout",
    24: "timeout",
    152: "timeout",
    255: "timeout",
    -11: "segfault",
    -9: "segfault",
}
ORDER = ["killed", "timeout", "survived", "no tests", "skipped", "suspicious", "segfault", "not checked"]


def verdicts(target: str) -> dict[str, str]:
    """Every mutant of `target` with its status (`not checked` when never run)."""
    root = Path("build/mutation") / target / "mutants"
    if not root.is_dir():
        raise SystemExit(f"no results for {target}: run `bash scripts/mutation {target}` first")
    found: dict[str, str] = {}
    for meta in root.rglob("*.meta"):
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            found[name] = "not checked" if code is None else STATUS.get(code, "suspicious")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("targets", nargs="+", help="targets of scripts/mutation, later ones override")
    parser.add_argument("--survivors", action="store_true", help="list the mutants that survived")
    args = parser.parse_args()
    final: dict[str, str] = {}
    for target in args.targets:
        for name, status in verdicts(target).items():
            if status != "not checked" or name not in final:
                final[name] = status
    counts = Counter(final.values())
    killed = counts["killed"] + counts["timeout"]
    run = killed + counts["survived"] + counts["suspicious"] + counts["segfault"]
    tally = ", ".join(f"{status} {counts[status]}" for status in ORDER)
    print(f"{' + '.join(args.targets)}: {len(final)} mutants: {tally}")
    if run:
        over_all = 100 * killed / len(final)
        print(f"score {100 * killed / run:.1f}% over the mutants run, {over_all:.1f}% over all")
    else:
        print("no mutant was tested: see the mutmut output above")
    if args.survivors:
        for name in sorted(n for n, s in final.items() if s == "survived"):
            print(name)


if __name__ == "__main__":
    main()
