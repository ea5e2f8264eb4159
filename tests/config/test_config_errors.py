"""Invalid configs: every problem reported at once, each with its location, never echoing a secret."""

from pathlib import Path

import pytest

from gleap_actions.config import ConfigError, load_config


def problems(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=env or {})
    assert str(caught.value) == "\n".join(caught.value.errors)
    return caught.value.errors


def test_unknown_keys_everywhere_with_suggestions(tmp_path: Path) -> None:
    assert problems(
        tmp_path,
        """
gleap: {api_tokn: x}
server: {prot: 1}
storage: {retension: 1d}
delivery: {max_concurency: 3}
mapping: []
mappings:
  - {name: a, action: trackEvent, trigger: 'type = "track"', enable: false, batching: {size: 5, byte: 10}}
""",
    ) == [
        "gleap.api_tokn: unknown key (did you mean 'api_token'?)",
        "server.prot: unknown key (did you mean 'port'?)",
        "storage.retension: unknown key (did you mean 'retention'?)",
        "delivery.max_concurency: unknown key (did you mean 'max_concurrency'?)",
        "mappings[0].batching.byte: unknown key (did you mean 'bytes'?)",
        "mappings[0].enable: unknown key (did you mean 'enabled'?)",
        "mapping: unknown key (did you mean 'mappings'?)",
    ]


def test_wrong_types_and_ranges(tmp_path: Path) -> None:
    assert problems(
        tmp_path,
        """
gleap: {base_url: "api.gleap.io", timeout: 0}
server: {host: [a], port: 70000, write_keys: 5}
storage: {url: "mysql://x", dedup_window: -1}
delivery: {max_concurrency: "many", requests_per_minute: 1.5, initial_backoff: 10, max_backoff: 5}
mappings:
  - {name: a, action: trackEvent, enabled: maybe, batching: {size: 5000}}
""",
    ) == [
        "gleap.base_url: expected an http:// or https:// URL, got a string ('api.gleap.io')",
        "gleap.timeout: must be greater than 0, got an integer (0)",
        "server.host: expected a string, got a list",
        "server.port: must be between 0 and 65535, got 70000",
        "server.write_keys: expected a list of strings, got an integer",
        "storage.url: expected a postgresql:// URL (omit it to use SQLite)",
        "storage.dedup_window: must be at least 0.0, got -1.0",
        "delivery.max_backoff: must be at least initial_backoff (10s)",
        "delivery.max_concurrency: expected an integer, got a string ('many')",
        "delivery.requests_per_minute: expected an integer, got a number (1.5)",
        "mappings[0].enabled: expected true or false, got a string ('maybe')",
        "mappings[0].batching.size: must be between 1 and 1000, got 5000",
    ]


def test_sections_of_the_wrong_shape(tmp_path: Path) -> None:
    assert problems(tmp_path, "gleap: [1]\nserver: 3\nmappings: {name: x}\n") == [
        "gleap: expected a mapping, got a list",
        "server: expected a mapping, got an integer (3)",
        "mappings: expected a list of mappings, got a mapping",
    ]
    assert problems(tmp_path, "- a\n- b\n") == [
        f"{tmp_path / 'c.yaml'}: expected a mapping of sections at the top level, got a list"
    ]


@pytest.mark.parametrize(
    ("value", "described"),
    [("4 hours", "a string ('4 hours')"), ("-5m", "a string ('-5m')"), ("true", "a string ('true')")],
)
def test_bad_durations(tmp_path: Path, value: str, described: str) -> None:
    assert problems(tmp_path, f'delivery: {{retry_window: "{value}"}}\n') == [
        "delivery.retry_window: expected a duration such as 30s, 5m, 4h, 7d or a number of seconds, "
        f"got {described}"
    ]


def test_mapping_entry_problems(tmp_path: Path) -> None:
    assert problems(
        tmp_path,
        """
mappings:
  - {name: Same, action: trackEvent}
  - {name: Same, action: trackEvnt}
  - {action: identifyContact, batching: true}
  - {name: "", action: sendEmail}
  - just a string
  - {name: Bad mapping, action: trackEvent, mapping: [1, 2]}
  - {name: no, action: trackEvent}
""",
    ) == [
        "mappings[1].name: duplicate mapping name 'Same' (also mappings[0])",
        "mappings[1].action: unknown action 'trackEvnt' (did you mean 'trackEvent'? "
        "known actions: identifyContact, trackEvent)",
        "mappings[2].name: required: a unique name for this mapping",
        "mappings[2].batching: action 'identifyContact' does not support batching",
        "mappings[3].name: required: a unique name for this mapping",
        "mappings[3].action: unknown action 'sendEmail' (known actions: identifyContact, trackEvent)",
        "mappings[4]: expected a mapping, got a string ('just a string')",
        "mappings[4].name: required: a unique name for this mapping",
        "mappings[4].action: required: one of identifyContact, trackEvent",
        "mappings[5].mapping: expected a mapping of field names to values, got a list",
        "mappings[6].name: expected a string, got a boolean (false); "
        "quote it, YAML reads yes/no/on/off as booleans",
    ]


def test_more_than_fifty_mappings(tmp_path: Path) -> None:
    entries = "".join(f"  - {{name: m{i}, action: trackEvent}}\n" for i in range(51))
    assert problems(tmp_path, "mappings:\n" + entries) == [
        "mappings: at most 50 mappings are allowed (as in Segment), got 51"
    ]


def test_environment_problems(tmp_path: Path) -> None:
    assert problems(
        tmp_path,
        'gleap: {api_token: "${TOKEN:?get it from Project settings}"}\nserver: {port: "${PORT}x"}\n',
        env={"PORT": "80", "GLEAP_BASE_URL": "not a url"},
    ) == [
        "gleap.api_token: environment variable TOKEN is required: get it from Project settings",
        "GLEAP_BASE_URL: expected an http:// or https:// URL, got a string",
        "server.port: expected an integer, got a string",
    ]


def test_yaml_syntax_errors_and_missing_files(tmp_path: Path) -> None:
    assert problems(tmp_path, "server:\n  port: [1,\n") == [
        f"{tmp_path / 'c.yaml'}: line 3, column 1: invalid YAML: "
        "expected the node content, but found '<stream end>'"
    ]
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.yaml", env={})
    assert caught.value.errors == [f"{tmp_path / 'nope.yaml'}: no such file"]


def test_secrets_never_appear_in_errors(tmp_path: Path) -> None:
    env = {"TOKEN": "tok-secret", "GLEAP_ACTIONS_ADMIN_TOKEN": "adm-secret", "WK": "wk-secret"}
    errors = problems(
        tmp_path,
        """
gleap: {api_token: [literal-secret], timeout: "${TOKEN}"}
server: {write_keys: {a: file-secret}, admin_token: {x: y}, port: "${WK}"}
storage: {url: "mysql://u:pg-secret@db"}
""",
        env=env,
    )
    text = "\n".join(errors)
    assert len(errors) == 6
    for secret in ("tok-secret", "adm-secret", "wk-secret", "literal-secret", "file-secret", "pg-secret"):
        assert secret not in text


def test_triggers_and_mappings_are_compiled_at_load_and_all_their_problems_reported(tmp_path: Path) -> None:
    errors = problems(
        tmp_path,
        """
mappings:
  - name: ok
    action: trackEvent
  - name: long pattern
    action: trackEvent
    mapping:
      eventName: {"@replace": {pattern: "abcdefghijklmnop", replacement: "", value: {"@path": "$.event"}}}
  - name: bad trigger
    action: trackEvent
    trigger: 'type ='
  - name: both
    action: identifyContact
    trigger: 'type == "identify"'
    mapping: {userId: {"@replace": {pattern: "abcdefghijklmnop", replacement: "", value: "x"}}}
""",
    )
    assert errors == [
        "mappings[1].mapping: /eventName/@replace/pattern should be a string of length 10 or less.",
        "mappings[2].trigger: expected a value (a quoted string, a number, true, false or null) after '=', "
        "found end of trigger at column 7",
        "mappings[3].trigger: expected '=' (FQL equality is a single '='), found '==' at column 6",
        "mappings[3].mapping: /userId/@replace/pattern should be a string of length 10 or less.",
    ]


def test_urls_need_http_a_host_and_a_valid_port(tmp_path: Path) -> None:
    for url in ("http://127.0.0.1:99999", "http://[::1", "https://", "http://host:port"):
        assert problems(tmp_path, f'gleap: {{base_url: "{url}"}}\n') == [
            f"gleap.base_url: expected an http:// or https:// URL, got a string ({url!r})"
        ]


def test_a_secret_pasted_under_another_key_is_not_echoed(tmp_path: Path) -> None:
    # Found by tests/reliability/test_secrets.py: the Gleap token given as server.port was echoed.
    errors = problems(
        tmp_path,
        """
gleap: {api_token: tok-5e3c91ab}
server: {port: tok-5e3c91ab, write_keys: [wk-77aa01], admin_token: adm-19fe22, host: [wk-77aa01]}
delivery: {linger: adm-19fe22}
""",
    )
    text = "\n".join(errors)
    assert "server.port" in text and "delivery.linger" in text and "***" in text
    for secret in ("tok-5e3c91ab", "wk-77aa01", "adm-19fe22"):
        assert secret not in text


def test_coalesce_is_a_boolean_and_only_for_actions_that_merge(tmp_path: Path) -> None:
    assert problems(
        tmp_path,
        """
mappings:
  - {name: a, action: trackEvent, coalesce: true}
  - {name: b, action: identifyContact, coalesce: often}
""",
    ) == [
        "mappings[0].coalesce: action 'trackEvent' cannot coalesce (only identifyContact can)",
        "mappings[1].coalesce: expected true or false, got a string ('often')",
    ]
