"""Secrets (Gleap token, write keys, admin token) never appear in anything the service produces: every log
line (at DEBUG), metrics page, dead-letter dump (admin API and `dlq` CLI), preview, error message, config
error and the command-line tools' output. The other scenarios also grep their own logs, metrics and
answers (`assert_no_secrets`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gleap_actions.sandbox import Faults, SandboxThread

from .conftest import StartServe
from .harness import (
    ADMIN_TOKEN,
    CLI,
    SECRETS,
    SOAK,
    TOKEN,
    WRITE_KEY,
    Client,
    ServeProcess,
    assert_no_secrets,
    child_env,
    free_port,
    wait_until,
    write_config,
)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=child_env(), timeout=60)


def test_no_secret_in_logs_metrics_dead_letters_previews_or_errors(
    sandbox: SandboxThread, serve: StartServe
) -> None:
    service = serve(sandbox.url)
    client = Client(service.url)
    outputs: list[str] = []
    # Events that end up delivered, rejected (dead letter: no userId), and refused by Gleap (final 400).
    secretive = {"note": "not a secret", "nested": {"k": [1, 2]}}
    assert client.post("/v1/track", {"userId": "s1", "event": "Ok", "properties": secretive})[0] == 200
    assert client.post("/v1/track", {"anonymousId": "a1", "event": "No user"})[0] == 200
    assert client.post("/v1/identify", {"userId": "s1", "traits": {"email": "s1@example.com"}})[0] == 200
    for key in ("wrong", WRITE_KEY + "-not", ""):  # auth errors must not echo what was sent
        client.post("/v1/track", {"userId": "s1", "event": "E"}, key=key)
    client.post("/v1/track", {"userId": "s1", "event": "E", "writeKey": WRITE_KEY + "x"}, key="")
    client.admin("GET", "/admin/stats", token=ADMIN_TOKEN + "x")
    client.admin("GET", "/admin/stats", token=WRITE_KEY)
    wait_until(lambda: sandbox.state.event_count("s1") == 1, 30, "delivered")
    wait_until(lambda: len(client.dead_letters()) == 1, 30, "dead-lettered")
    client.admin(
        "POST", "/admin/preview", [{"userId": "p1", "event": "Preview"}, {"type": "identify", "userId": "p1"}]
    )
    client.admin("POST", "/admin/preview?batch=true", [{"userId": "p1", "event": "Preview"}])
    config = service.config
    outputs.append(client.metrics())
    for args in (("dlq", "list"), ("dlq", "show", "1"), ("preview", "--help")):
        result = _run(*args, "--config", str(config)) if args[0] == "dlq" else _run(*args)
        outputs += [result.stdout, result.stderr]
    # A broken config (reload and validate) reports its problems without the secrets it holds.
    document = yaml.safe_load(config.read_text())
    document["delivery"]["retry_window"] = "soon"
    document["server"]["port"] = TOKEN
    config.write_text(yaml.safe_dump(document))
    status, answer = client.admin("POST", "/admin/reload")
    assert status == 400 and answer["ok"] is False and answer["errors"], answer
    result = _run("config", "validate", str(config))
    assert result.returncode == 1  # invalid config
    outputs += [result.stdout, result.stderr]
    service.stop()
    outputs.append(service.log_text())
    assert "Traceback" not in service.log_text()
    assert "event=dead_lettered mapping=Track Event kind=rejected" in service.log_text()
    assert_no_secrets([*outputs, *client.seen])


def test_serve_at_debug_level_logs_no_secret(sandbox: SandboxThread, tmp_path: Path) -> None:
    config = write_config(tmp_path, sandbox.url, port=free_port())
    log = tmp_path / "debug.log"
    process = ServeProcess(config, log, ("--log-level", "DEBUG")).start()
    client = Client(process.url)
    try:
        assert (
            client.post("/v1/batch", {"batch": [{"type": "track", "userId": "d1", "event": "E"}]})[0] == 200
        )
        sandbox.set_faults(error_rate=1.0, error_status=503)
        assert client.post("/v1/track", {"userId": "d1", "event": "Retried"})[0] == 200
        wait_until(lambda: sandbox.state.request_count() >= 2, 30, "a failed attempt")
        sandbox.set_faults(error_rate=0.0)
        wait_until(lambda: sandbox.state.event_count("d1") == 2, 30, "delivered")
        assert client.post("/v1/track", {"anonymousId": "a1", "event": "No user"})[0] == 200
        wait_until(lambda: len(client.dead_letters()) == 1, 30, "dead-lettered")
        client.post("/v1/track", {"userId": "d1", "event": "E"}, key=WRITE_KEY + "x")
        client.admin("GET", "/admin/stats", token=ADMIN_TOKEN + "x")
    finally:
        process.stop()
    text = log.read_text()
    # The log holds what the scenario went through (a near-empty log would prove nothing).
    for line in (
        "level=DEBUG",
        "event=service_started",
        "event=delivery_retry mapping=Track Event",
        "error='HTTP 503",
        "event=dead_lettered mapping=Track Event kind=rejected",
        "event=service_stopped",
    ):
        assert line in text, f"{line!r} missing from the log:\n{text}"
    assert_no_secrets([text, *client.seen])


def test_gleap_refusing_the_token_logs_no_secret(serve: StartServe) -> None:
    # A Gleap that no longer accepts the configured token: delivery pauses and says why, without the token.
    with SandboxThread(api_token="rotated-elsewhere", faults=Faults(rate_limit=None)) as rotated:
        service = serve(rotated.url)
        client = Client(service.url)
        assert client.post("/v1/track", {"userId": "r1", "event": "E"})[0] == 200
        wait_until(lambda: client.metric("gleap_actions_credentials_paused") == 1, 30, "delivery paused")
        assert rotated.state.request_count() >= 1 and rotated.state.event_count() == 0
        metrics = client.metrics()
        service.stop()
    text = service.log_text()
    assert "event=delivery_paused reason=invalid_credentials status=401" in text, text
    assert_no_secrets([text, metrics, *client.seen])


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.sampled_from(SECRETS),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
# The secrets are configured where they belong and may be pasted anywhere else: never echoed.
sections = st.fixed_dictionaries(
    {
        "gleap": st.fixed_dictionaries(
            {"api_token": st.just(TOKEN)}, optional={"base_url": yaml_values, "timeout": yaml_values}
        ),
        "server": st.fixed_dictionaries(
            {"admin_token": st.just(ADMIN_TOKEN), "write_keys": st.just([WRITE_KEY])},
            optional={"port": yaml_values, "host": yaml_values},
        ),
    },
    optional={
        "delivery": st.dictionaries(
            st.sampled_from(["retry_window", "linger", "max_concurrency"]), yaml_values
        ),
        "mappings": st.lists(
            st.dictionaries(st.sampled_from(["name", "action", "trigger", "mapping"]), yaml_values),
            max_size=2,
        ),
    },
)


@settings(max_examples=100 if SOAK else 15, deadline=None, suppress_health_check=list(HealthCheck))
@given(document=sections)
def test_config_validate_of_any_file_reports_without_secrets_or_tracebacks(
    tmp_path: Path, document: object
) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(document))
    result = _run("config", "validate", str(path))
    assert result.returncode in (0, 1), result.stderr  # valid or invalid: never a crash
    assert "Traceback" not in result.stderr
    assert_no_secrets([result.stdout, result.stderr])
