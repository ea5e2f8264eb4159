"""Shared fixtures: the Gleap sandbox, a SQLite store, a real PostgreSQL server for the tests that need one.

`sandbox` is the project's Gleap sandbox on its own thread and a free 127.0.0.1 port, without a rate limit
(tests add the faults they need): it serves in-process async tests and `gleap-actions` processes alike,
and survives any kill of them. It accepts the API token of the `sandbox_token` fixture, which a test
folder or module overrides to use its own.

PostgreSQL:
Where the server comes from, in order: `GLEAP_ACTIONS_TEST_POSTGRES_URL`; a server at
`postgresql://postgres@127.0.0.1:5432/test` if one answers; a throwaway cluster started in a temporary
directory when PostgreSQL's binaries are installed (`initdb`, `pg_ctl`; as the `postgres` user when
run as root). With none, the tests that need it skip with the reason, except under CI (`CI=true`) where
that is a failure.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from hypothesis import Phase, settings

from gleap_actions.queue.sqlite.store import SQLiteStore
from gleap_actions.sandbox import Faults, SandboxThread

SANDBOX_TOKEN = "sandbox-test-token"


@pytest.fixture
def sandbox_token() -> str:
    """The API token the `sandbox` accepts."""
    return SANDBOX_TOKEN


@pytest.fixture
def sandbox(sandbox_token: str) -> Iterator[SandboxThread]:
    """The Gleap sandbox (see the module docstring)."""
    with SandboxThread(api_token=sandbox_token, faults=Faults(rate_limit=None)) as running:
        yield running


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    """A fresh SQLite store in the test's folder (the store contract tests override it for every backend)."""
    s = SQLiteStore(tmp_path / "queue.db")
    yield s
    s.close()


POSTGRES_ENV = "GLEAP_ACTIONS_TEST_POSTGRES_URL"
LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"

# Under mutation testing (scripts/mutation) a failing example is all that is needed: shrinking it to the
# smallest one would take most of the run. Property tests try 30 examples, not 100, there: they are most
# of the time a surviving mutant costs, and the plain suite still runs them in full.
if "MUTANT_UNDER_TEST" in os.environ:
    settings.register_profile(
        "mutation", phases=[Phase.explicit, Phase.reuse, Phase.generate], deadline=None, max_examples=30
    )
    settings.load_profile("mutation")

    # The engine's caches (compiled triggers, parsed paths and templates) were filled before mutmut forked
    # the process that runs a mutant's tests: emptied before each test, every test compiles again, through
    # the mutated code.
    from gleap_actions.engine.fql import trigger as _fql_trigger
    from gleap_actions.engine.mapping import liquid as _liquid
    from gleap_actions.engine.mapping import paths as _paths
    from gleap_actions.engine.mapping import templates as _templates

    _ENGINE_CACHES = [
        _fql_trigger._cached,
        _paths.parse_path,
        _liquid.compile_liquid,
        _templates.compile_template,
    ]

    @pytest.fixture(autouse=True)
    def _empty_engine_caches() -> None:
        for cached in _ENGINE_CACHES:
            cached.cache_clear()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under mutation testing, a mutant's tests run fastest first (by the durations mutmut recorded), and
    each fails once it takes 10 s more than three times its recorded duration.

    mutmut stops at the first failure (`-x`) and hands its tests over in no particular order, so a mutant
    a quick test kills would otherwise often wait for a slow property test to finish first. A mutant that
    makes a test hang (a delivery loop that never drains) would otherwise run until mutmut's own timeout,
    five times the duration of all its tests together: minutes per mutant for the delivery tests.
    """
    if not os.environ.get("MUTANT_UNDER_TEST"):
        return
    recorded = Path(__file__).parents[1] / "mutmut-stats.json"  # the scratch copy's mutants/ folder
    if not recorded.is_file():
        return
    durations: dict[str, float] = json.loads(recorded.read_text())["duration_by_test"]
    items.sort(key=lambda item: durations.get(item.nodeid, 0.0))
    for item in items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(10 + 3 * durations.get(item.nodeid, 0.0)))


def _reachable(url: str) -> str | None:
    """None when `url` accepts connections, else why not."""
    try:
        with psycopg.connect(url, connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


def _binaries() -> Path | None:
    """The directory holding initdb and pg_ctl, if PostgreSQL is installed."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(versions[-1]).parent if versions else None


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_owner(command: list[str | Path]) -> list[str | Path]:
    """PostgreSQL refuses to run as root: as root, run its tools as the `postgres` system user."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _throwaway_cluster(bin_dir: Path, root: Path) -> str:
    """Start a private cluster (trust auth, 127.0.0.1 only) under `root`; returns its URL."""
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    data = root / "data"
    port = _free_port()
    subprocess.run(
        _as_owner([bin_dir / "initdb", "-D", data, "-U", "postgres", "-A", "trust", "--no-sync"]),
        check=True,
        capture_output=True,
    )
    subprocess.run(
        _as_owner([
            bin_dir / "pg_ctl", "-D", data, "-l", root / "log", "-w", "start",
            "-o", f"-h 127.0.0.1 -p {port} -k {root} -F",
        ]),
        check=True,
        capture_output=True,
    )  # fmt: skip
    return f"postgresql://postgres@127.0.0.1:{port}/postgres"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The base URL of a PostgreSQL server for this test session (see the module docstring)."""
    reasons: list[str] = []
    url = os.environ.get(POSTGRES_ENV)
    if url:
        why = _reachable(url)
        if why is None:
            yield url
            return
        reasons.append(f"{POSTGRES_ENV} is set but the server does not answer: {why}")
    else:
        why = _reachable(LOCAL_POSTGRES)
        if why is None:
            yield LOCAL_POSTGRES
            return
        reasons.append(f"{POSTGRES_ENV} is not set and {LOCAL_POSTGRES} does not answer: {why}")
        bin_dir = _binaries()
        if bin_dir is None:
            reasons.append("no PostgreSQL binaries (initdb) to start a throwaway cluster")
        elif os.geteuid() == 0 and not _has_user("postgres"):
            reasons.append("PostgreSQL binaries found, but running as root with no postgres user")
        else:
            root = Path(tempfile.mkdtemp(prefix="gleap-pg-"))
            try:
                yield _throwaway_cluster(bin_dir, root)
                return
            finally:
                stop = [bin_dir / "pg_ctl", "-D", root / "data", "-m", "immediate", "stop"]
                subprocess.run(_as_owner(stop), capture_output=True)
                shutil.rmtree(root, ignore_errors=True)
    message = "PostgreSQL unavailable: " + "; ".join(reasons)
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true: PostgreSQL is required)")
    pytest.skip(message)


def with_search_path(url: str, schema: str) -> str:
    """`url` with the connection option that makes `schema` the default schema."""
    option = "options=" + quote(f"-csearch_path={schema}", safe="")
    return url + ("&" if "?" in url else "?") + option


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A URL whose tables live in a fresh schema, dropped after the test."""
    schema = f"test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    yield with_search_path(postgres_server, schema)
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(autouse=True)
def _isolated_from_the_developer(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each test runs in an empty directory of its own, without the GLEAP_* settings of the shell it was
    started from: commands that default to ./data (or read GLEAP_ACTIONS_DATA_DIR, GLEAP_API_TOKEN, ...)
    never see the developer's queue or Gleap account, even in the subprocesses they start."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    for name in list(os.environ):
        if name.startswith("GLEAP_") and name != POSTGRES_ENV:
            monkeypatch.delenv(name)


def _run_in_threads(*calls: Callable[[], object], timeout: float = 60.0) -> None:
    """Run each call in its own thread, all at once; fail when one raised or had not finished after
    `timeout` seconds (a thread stuck on a lock must fail the test, not leave it passing early)."""
    failures: list[BaseException] = []

    def guarded(call: Callable[[], object]) -> None:
        try:
            call()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=guarded, args=(call,), daemon=True) for call in calls]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = [thread.name for thread in threads if thread.is_alive()]
    assert not stuck, f"{len(stuck)} of {len(threads)} threads still running after {timeout:g} s"
    if failures:
        raise failures[0]


RunInThreads = Callable[..., None]


@pytest.fixture
def run_in_threads() -> RunInThreads:
    """Runs calls in threads at once; fails when one raised or did not finish (see `_run_in_threads`)."""
    return _run_in_threads
