"""Whole-process `gleap-actions preview` over a file of Segment events, output to /dev/null.

What a user runs before a backfill: process start, imports, config, reading and normalising every line,
triggers, mappings, validation, request bodies and writing one JSON line per request. The file is a
generated mix like Segment's own measurement (about 80% track/page/screen, 19% identify, some invalid),
100k events by default. Reports events/s by wall clock (best of `--repeat`) and by the process's CPU time
(user + sys of the process and its workers: steadier on a shared machine), single and `--batch`. The code
measured is this checkout's `src`, once per `--jobs` value (default 1 and 2: one process, and two worker
processes); with `--compare-src DIR` the same runs use another checkout's `src` (e.g. main, without
`--jobs`) for a baseline in the same conditions, alternating with this one. The load average is printed
before and after: on a busy machine the wall-clock figures of several processes say little. Bytecode is
cached in a temporary folder and each tree runs once before it is measured, as an installed package
starts (even where PYTHONDONTWRITEBYTECODE is set). Writes bench/results/preview.json.

    .venv/bin/python bench/bench_preview.py [--events 100000] [--repeat 3] [--jobs 1,2] [--compare-src DIR]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from bench_transform import identify_event, track_event

RESULTS = Path(__file__).parent / "results" / "preview.json"
SRC = Path(__file__).resolve().parents[1] / "src"
# Segment's implementation, whole process on Node over 100k mixed events (HTTP stubbed), same machine class.
SEGMENT = {"single": 8_000, "batch": 20_000}
TARGETS = {mode: 3 * rate for mode, rate in SEGMENT.items()}


def write_events(path: Path, count: int, seed: int) -> None:
    """`count` Segment events, one per line: 19% identify, the rest track/page/screen."""
    rng = random.Random(seed)
    with path.open("wb") as out:
        for index in range(count):
            kind = identify_event if rng.random() < 0.19 else track_event
            out.write(orjson.dumps(kind(rng, index)) + b"\n")


# A measured run: (the `src` folder of the code, extra arguments of `preview`).
Run = tuple[Path, list[str]]


def run_once(run: Run, events: Path, batch: bool, pycache: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process and its children) of one `preview` process."""
    src, extra = run
    env = dict(os.environ, GLEAP_ACTIONS_CONFIG="", PYTHONPATH=str(src), PYTHONPYCACHEPREFIX=str(pycache))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    args = [sys.executable, "-m", "gleap_actions", "preview", str(events), *extra]
    args += ["--batch"] if batch else []
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def measure(
    trees: dict[str, Run], events: Path, count: int, repeat: int, pycache: Path
) -> dict[str, dict[str, dict[str, float]]]:
    """Best events/s per tree and mode, by wall clock and by CPU time; the trees' runs alternate."""
    runs: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for run in trees.values():  # start as an installed package does: bytecode already compiled
        run_once(
            run, events.with_name("empty.jsonl"), False, pycache / ("this" if run[0] == SRC else "compare")
        )
    for mode in ("single", "batch"):
        for _ in range(repeat):
            for name, run in trees.items():
                runs.setdefault((name, mode), []).append(
                    run_once(run, events, mode == "batch", pycache / ("this" if run[0] == SRC else "compare"))
                )
    return {
        name: {
            mode: {
                "wall_events_per_s": round(count / min(w for w, _ in runs[name, mode])),
                "cpu_events_per_s": round(count / min(c for _, c in runs[name, mode])),
            }
            for mode in ("single", "batch")
        }
        for name in trees
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", default="1,2", help="`preview --jobs` values to measure, comma-separated")
    parser.add_argument("--compare-src", type=Path, help="another checkout's src/ to measure as a baseline")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        events = Path(folder) / "events.jsonl"
        write_events(events, args.events, args.seed)
        events.with_name("empty.jsonl").write_bytes(b"")
        trees: dict[str, Run] = {f"jobs {n}": (SRC, ["--jobs", n]) for n in args.jobs.split(",")}
        if args.compare_src is not None:
            trees["compare"] = (args.compare_src.resolve(), [])
        load_before = os.getloadavg()  # (1, 5, 15 minutes)
        result: dict[str, object] = {
            "events": args.events,
            "python": platform.python_version(),
            "segment_events_per_s": SEGMENT,
            "targets": TARGETS,
            **measure(trees, events, args.events, args.repeat, Path(folder) / "pycache"),
            "load_average": {"before": load_before, "after": os.getloadavg()},
        }
    print(f"{'run':<10}{'mode':<8}{'wall ev/s':>12}{'cpu ev/s':>12}{'Segment':>10}{'target':>10}")
    for name in trees:
        figures = result.get(name)
        if isinstance(figures, dict):
            for mode, rates in figures.items():
                print(
                    f"{name:<10}{mode:<8}{rates['wall_events_per_s']:>12}{rates['cpu_events_per_s']:>12}"
                    f"{SEGMENT[mode]:>10}{TARGETS[mode]:>10}"
                )
    print(f"load average (1, 5, 15 min): before {load_before}, after {os.getloadavg()}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
