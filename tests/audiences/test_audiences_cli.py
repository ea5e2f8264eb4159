"""`gleap-actions audiences list|show|preview`, through click's runner and one real process."""

# ruff: noqa: E501  (the events read best one a line)

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from gleap_actions.cli import cli

CONFIG = """
audiences:
  - name: Recent Buyers
    definition: "event('Order Completed').within(7 days).count() >= 1"
computed_traits:
  - name: Total Revenue
    definition: "event('Order Completed').sum(property('total'))"
    enabled: false
"""
EVENTS = [
    {"type": "track", "event": "Order Completed", "anonymousId": "a1", "timestamp": "2024-05-30T10:00:00Z", "properties": {"total": 30}},
    {"type": "identify", "userId": "u1", "anonymousId": "a1", "timestamp": "2024-05-30T10:05:00Z", "traits": {"email": "x@y.z"}},
    {"type": "track", "event": "Order Completed", "userId": "u2", "timestamp": "2024-05-01T10:00:00Z", "properties": {"total": 5}},
    {"type": "track", "event": "Order Completed", "anonymousId": "a3", "timestamp": "2024-05-31T10:00:00Z", "properties": {"total": 7}},
    {"type": "alias", "userId": "u2", "previousId": "a4", "timestamp": "2024-05-31T10:00:00Z"},
    {"type": "page", "anonymousId": "a4", "timestamp": "2024-05-31T10:00:00Z"},
    {"type": "track", "event": "Order Completed", "timestamp": "2024-05-31T10:00:00Z"},
]  # fmt: skip
NOW = ["--now", "2024-06-01T00:00:00Z"]


@pytest.fixture
def files(tmp_path: Path) -> tuple[str, str]:
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG)
    events = tmp_path / "events.jsonl"
    lines = [json.dumps(e) for e in EVENTS]
    lines.insert(3, "{not json")
    events.write_text("\n".join(lines) + "\n\n")
    return str(config), str(events)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["audiences", *args])
    return result.exit_code, result.stdout, result.stderr


def records(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_list(files: tuple[str, str]) -> None:
    code, out, _ = run("list", "--config", files[0])
    assert code == 0
    assert out == (
        "audience\trecent_buyers\tenabled\tRecent Buyers\ncomputed trait\ttotal_revenue\tdisabled\tTotal Revenue\n"
    )


def test_list_with_none_configured(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("gleap: {}\n")
    code, out, err = run("list", "--config", str(tmp_path / "c.yaml"))
    assert (code, out) == (0, "")
    assert "No audiences or computed traits" in err


def test_show_by_name_or_key(files: tuple[str, str]) -> None:
    code, out, _ = run("show", "Recent Buyers", "--config", files[0])
    assert code == 0
    assert out.splitlines() == [
        "name: Recent Buyers",
        "key: recent_buyers",
        "kind: audience",
        "enabled: true",
        "include_anonymous_users: false",
        "definition: event('Order Completed').within(7 days).count() >= 1",
        "events: Order Completed",
        "traits: none",
        "history needed: 7 days",
    ]
    assert run("show", "total_revenue", "--config", files[0])[1].endswith("history needed: all of it\n")
    code, _, err = run("show", "nope", "--config", files[0])
    assert code == 2
    assert "no audience or computed trait named 'nope' (keys: recent_buyers, total_revenue)" in err


def test_preview_an_audience_from_the_config(files: tuple[str, str]) -> None:
    code, out, err = run("preview", files[1], "recent_buyers", "--config", files[0], *NOW)
    assert code == 0
    # u1's order was made anonymously and joined by the identify; a3 is anonymous; u2's order is too old.
    assert records(out) == [{"userId": "u1", "anonymousIds": ["a1"], "value": True}]
    assert "line 4: skipped: invalid JSON" in err
    assert "line 8: skipped: no userId or anonymousId" in err
    assert "3 profile(s), 1 member(s) at 2024-06-01T00:00:00+00:00" in err


def test_preview_a_computed_trait_from_the_config(files: tuple[str, str]) -> None:
    code, out, _ = run("preview", files[1], "Total Revenue", "--config", files[0], *NOW)
    assert code == 0
    # The alias joined a4 to u2.
    assert records(out) == [
        {"userId": "u1", "anonymousIds": ["a1"], "value": 30},
        {"userId": "u2", "anonymousIds": ["a4"], "value": 5},
    ]


def test_preview_a_definition_given_on_the_command_line(files: tuple[str, str]) -> None:
    definition = "event('Order Completed').count() >= 1"
    code, out, _ = run("preview", files[1], "--definition", definition, "--include-anonymous-users", *NOW)
    assert code == 0
    assert [r["anonymousIds"] for r in records(out)] == [["a1"], ["a4"], ["a3"]]
    code, out, _ = run("preview", files[1], "--definition", "event('Order Completed').count()", "--kind", "computed_trait", *NOW)  # fmt: skip
    assert [r["value"] for r in records(out)] == [1, 1]


def test_preview_next_change(files: tuple[str, str]) -> None:
    code, out, _ = run("preview", files[1], "recent_buyers", "--config", files[0], *NOW, "--next-change")
    assert code == 0
    # u1's order of 2024-05-30T10:00Z leaves the 7-day window 7 days later.
    assert records(out) == [
        {"userId": "u1", "anonymousIds": ["a1"], "value": True, "nextChange": "2024-06-06T10:00:00.000Z"}
    ]


def test_preview_clock_decides_windows(files: tuple[str, str]) -> None:
    code, out, _ = run(
        "preview", files[1], "recent_buyers", "--config", files[0], "--now", "2024-06-10T00:00:00Z"
    )
    assert (code, out) == (0, "")


def test_preview_usage_errors(files: tuple[str, str]) -> None:
    code, _, err = run("preview", files[1], "--definition", "event('x').count() >= x")
    assert code == 2
    assert "--definition: column 23: expected a value" in err
    assert "\n                        ^" in err  # a caret under column 23
    code, _, err = run("preview", files[1])
    assert code == 2
    assert "give either NAME_OR_KEY (from the config) or --definition TEXT" in err
    code, _, err = run("preview", files[1], "--definition", "trait('x') = 1", "--now", "soon")
    assert code == 2
    assert "expected an ISO 8601 time" in err


def test_a_real_process_reads_stdin(files: tuple[str, str]) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gleap_actions",
            "audiences",
            "preview",
            "-",
            "recent_buyers",
            "--config",
            files[0],
            *NOW,
        ],
        input=Path(files[1]).read_bytes(),
        capture_output=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert records(result.stdout.decode()) == [{"userId": "u1", "anonymousIds": ["a1"], "value": True}]


@pytest.mark.parametrize("command", ["list", "show", "preview"])
def test_help(command: str) -> None:
    code, out, _ = run(command, "--help")
    assert code == 0
    assert out.startswith(f"Usage: cli audiences {command} [OPTIONS]")
