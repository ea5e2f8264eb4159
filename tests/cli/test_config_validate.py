"""`gleap-actions config validate F`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from gleap_actions.cli import cli


def test_a_valid_config_prints_ok_and_a_summary(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        """
gleap: {api_token: "${TOKEN}"}
mappings:
  - {name: Track Event, action: trackEvent, batching: {size: 50}}
  - {name: People, action: identifyContact, trigger: 'type = "identify" and traits.email != null'}
  - {name: "Off", action: trackEvent, enabled: false, batching: false}
"""
    )
    result = CliRunner().invoke(cli, ["config", "validate", str(path)], env={"TOKEN": "abc-secret"})
    assert result.exit_code == 0
    assert result.stdout == (
        f"OK {path}: 3 mapping(s), 2 enabled, actions: identifyContact, trackEvent\n"
        "  - Track Event: trackEvent, enabled, batches of up to 50\n"
        '    trigger: type = "track" or type = "page" or type = "screen"\n'
        "  - People: identifyContact, enabled, one request per event\n"
        '    trigger: type = "identify" and traits.email != null\n'
        "  - Off: trackEvent, disabled, one request per event\n"
        '    trigger: type = "track" or type = "page" or type = "screen"\n'
        "Gleap budget: requests/min identify 1000, track 1000\n"
        "Gleap: https://api.gleap.io (API token configured)\n"
    )
    result = CliRunner().invoke(cli, ["config", "validate", str(path)], env={"TOKEN": ""})
    assert result.stdout.endswith("Gleap: no API token configured: deliveries go to the built-in sandbox\n")


def test_every_problem_is_printed_and_the_exit_code_is_1_as_a_real_process(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        """
gleap: {api_token: "${TOKEN}", timeout: soon}
server: {prot: 80}
mappings:
  - {name: A, action: trackEvent}
  - {name: A, action: identify}
"""
    )
    env = {**os.environ, "TOKEN": "abc-secret"}
    done = subprocess.run(
        [sys.executable, "-m", "gleap_actions", "config", "validate", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        f"{path}: 4 problem(s)\n"
        "  gleap.timeout: expected a duration such as 30s, 5m, 4h, 7d or a number of seconds, "
        "got a string ('soon')\n"
        "  server.prot: unknown key (did you mean 'port'?)\n"
        "  mappings[1].name: duplicate mapping name 'A' (also mappings[0])\n"
        "  mappings[1].action: unknown action 'identify' (did you mean 'identifyContact'? "
        "known actions: identifyContact, trackEvent)\n"
    )
    assert "abc-secret" not in done.stderr


def test_a_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["config", "validate", str(tmp_path / "none.yaml")])
    assert result.exit_code == 1
    assert (
        result.stderr == f"{tmp_path / 'none.yaml'}: 1 problem(s)\n  {tmp_path / 'none.yaml'}: no such file\n"
    )


def test_unknown_mapping_keys_are_reported_with_the_closest_field(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        """
gleap: {api_token: x}
mappings:
  - name: Track
    action: trackEvent
    mapping: {eventNme: {"@path": "$.event"}, name: {"@path": "$.event"}, zzz: 1}
"""
    )
    result = CliRunner().invoke(cli, ["config", "validate", str(path)])
    assert result.exit_code == 1
    fields = "its fields: data, date, eventName, pageUrl, type, userId; docs/actions.md lists them)"
    assert result.output.splitlines()[1:] == [
        f"  mappings[0].mapping.eventNme: unknown field of trackEvent (did you mean 'eventName'? {fields}",
        f"  mappings[0].mapping.name: unknown field of trackEvent (did you mean 'eventName'? {fields}",
        f"  mappings[0].mapping.zzz: unknown field of trackEvent ({fields}",
    ]


def test_values_from_the_environment_are_never_echoed(tmp_path: Path) -> None:
    """In a mapping's name, action or trigger, or a base_url carrying credentials: shown as `***`."""
    path = tmp_path / "c.yaml"
    path.write_text(
        """
gleap: {api_token: "${TOKEN}", base_url: "https://user:${TOKEN}@gleap.example.com"}
mappings:
  - {name: "${NAME}", action: "${ACTION}", trigger: "${TRIGGER}"}
  - {name: "Ours ${NAME}", action: trackEvent, trigger: 'event = "${NAME}"'}
"""
    )
    env = {"TOKEN": "tok-31f9", "NAME": "name-8c2e", "ACTION": "act-77d1", "TRIGGER": 'event = "trig-5a0b'}
    bad = CliRunner().invoke(cli, ["config", "validate", str(path)], env=env)
    assert bad.exit_code == 1 and "unknown action '***'" in bad.stderr
    good = CliRunner().invoke(
        cli,
        ["config", "validate", str(path)],
        env={**env, "ACTION": "trackEvent", "TRIGGER": 'type = "trig-5a0b"'},
    )
    assert good.exit_code == 0
    assert "  - ***: trackEvent" in good.stdout and "Gleap: https://***@gleap.example.com" in good.stdout
    for value in env.values():
        assert value not in bad.stdout + bad.stderr + good.stdout + good.stderr


def test_the_summary_shows_each_gleap_endpoints_budget(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "delivery: {requests_per_minute: 600, track_requests_per_minute: 900, audience_priority: true}\n"
    )
    result = CliRunner().invoke(cli, ["config", "validate", str(path)])
    assert result.exit_code == 0
    assert "Gleap budget: requests/min identify 600, track 900, audience identifies first\n" in result.output
    path.write_text("delivery: {identify_requests_per_minute: 0}\n")
    result = CliRunner().invoke(cli, ["config", "validate", str(path)])
    assert result.exit_code == 1
    assert "delivery.identify_requests_per_minute: must be at least 1, got 0" in result.output
