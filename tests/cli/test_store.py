"""`gleap-actions store migrate`: the schema from --store, the environment or the config file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from gleap_actions.cli import cli
from gleap_actions.queue.postgres.migrations import MIGRATIONS


def test_help() -> None:
    result = CliRunner().invoke(cli, ["store", "migrate", "--help"])
    assert result.exit_code == 0
    assert result.stdout.startswith("Usage: cli store migrate [OPTIONS]")


@pytest.mark.postgres
def test_migrate_postgres(postgres_url: str) -> None:
    result = CliRunner().invoke(cli, ["store", "migrate", "--store", postgres_url])
    assert result.exit_code == 0, result.output
    assert f"schema version {len(MIGRATIONS)}, up to date" in result.output
    assert "postgresql://127.0.0.1:5432/test" in result.output
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchone() == (len(MIGRATIONS),)
    # From the environment too, and a second run changes nothing.
    again = CliRunner().invoke(cli, ["store", "migrate"], env={"GLEAP_ACTIONS_STORE": postgres_url})
    assert again.exit_code == 0, again.output


@pytest.mark.postgres
def test_migrate_postgres_from_the_config_file(postgres_url: str, tmp_path: Path) -> None:
    config = tmp_path / "gleap.yaml"
    config.write_text('storage:\n  url: "${QUEUE_URL}"\n')
    result = CliRunner().invoke(
        cli, ["store", "migrate", "--config", str(config)], env={"QUEUE_URL": postgres_url}
    )
    assert result.exit_code == 0, result.output
    assert "store at postgresql://127.0.0.1:5432/test: schema version" in result.output


def test_migrate_sqlite_in_the_data_directory(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "gleap_actions", "store", "migrate"],
        capture_output=True,
        text=True,
        check=True,
        env={"GLEAP_ACTIONS_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert f"store at {tmp_path / 'queue.db'}: schema version" in out.stdout
    assert (tmp_path / "queue.db").exists()


def test_unreachable_database_is_a_clear_error_without_the_password() -> None:
    result = CliRunner().invoke(
        cli, ["store", "migrate", "--store", "postgresql://app:s3cret@127.0.0.1:9/queue"]
    )
    assert result.exit_code == 1
    assert "cannot open the store at postgresql://127.0.0.1:9/queue" in result.output
    assert "s3cret" not in result.output
