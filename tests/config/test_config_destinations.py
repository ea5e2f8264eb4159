"""`sources:` and `destinations:`: several Gleap projects in one config, and the single form unchanged."""

from pathlib import Path

import pytest

from gleap_actions.config.load import Config, ConfigError, load_config

ENV = {"PROD": "tok-prod-1234", "EU": "tok-eu-5678", "WEB": "wk-web-1111", "APP": "wk-app-2222"}

MULTI = """
delivery: {requests_per_minute: 600, linger: 0.5}
sources:
  - {name: web, write_keys: ["${WEB}"], destinations: [prod, eu]}
  - {name: app, write_keys: ["${APP}"]}
destinations:
  - name: prod
    gleap: {api_token: "${PROD}"}
    delivery: {requests_per_minute: 300}
    mappings: [{name: Track Event, action: trackEvent, trigger: 'type = "track"'}]
  - name: eu
    gleap: {api_token: "${EU}", base_url: "https://eu.example.test"}
"""


def load(tmp_path: Path, text: str, env: dict[str, str] = ENV) -> Config:
    path = tmp_path / "gleap-actions.yaml"
    path.write_text(text)
    return load_config(path, env=env)


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    return caught.value.errors


def test_sources_feed_destinations_each_with_its_settings(tmp_path: Path) -> None:
    config = load(tmp_path, MULTI)
    assert [(s.name, s.destinations) for s in config.sources] == [
        ("web", ("prod", "eu")),
        ("app", ("prod", "eu")),  # no `destinations`: every one
    ]
    assert config.server.write_keys == ("wk-web-1111", "wk-app-2222")  # ingest accepts every source's
    prod, eu = config.destinations
    assert (prod.gleap.api_token, prod.delivery.requests_per_minute, prod.delivery.linger) == (
        "tok-prod-1234",
        300,
        0.5,  # the top-level delivery settings are each destination's defaults
    )
    assert [s.name for s in prod.subscriptions] == ["Track Event"]
    assert eu.gleap.base_url == "https://eu.example.test" and eu.delivery.requests_per_minute == 600
    assert len(eu.subscriptions) == 3  # no mappings: the presets
    assert not config.uses_sandbox
    assert config.only("eu").gleap is eu.gleap and config.only("eu").subscriptions == eu.subscriptions
    for secret in ENV.values():
        assert secret not in repr(config)


def test_the_single_destination_form_is_one_source_and_one_destination(tmp_path: Path) -> None:
    config = load(tmp_path, 'gleap: {api_token: "${PROD}"}\nserver: {write_keys: ["${WEB}"]}\n')
    (source,) = config.sources
    (destination,) = config.destinations
    assert (source.name, source.write_keys, source.destinations) == (
        "default",
        ("wk-web-1111",),
        ("default",),
    )
    assert destination.name == "default" and destination.gleap == config.gleap
    assert destination.subscriptions == config.subscriptions


def test_every_mistake_of_the_new_form_is_reported_without_secrets(tmp_path: Path) -> None:
    text = """
gleap: {api_token: "${PROD}"}
server: {write_keys: [other-key]}
sources:
  - {name: web, write_keys: ["${WEB}"], destinations: [prod, nowhere]}
  - {name: web, write_keys: ["${WEB}"]}
  - {name: "bad/name"}
destinations:
  - name: prod
    gleap: {api_token: "${EU}"}
    mappings:
      - {name: T, action: trackEvent, trigger: 'type = "track"'}
      - {name: T, action: trackEvent, trigger: 'type = "track"'}
  - name: prod
  - gleap: {}
"""
    errors = problems(tmp_path, text)
    joined = "\n".join(errors)
    for expected in (
        "gleap: with `destinations:`, each destination has its own",
        "server.write_keys: with `sources:`, each source lists its own write keys",
        "sources[0].destinations: unknown destination 'nowhere' (configured: prod)",
        "sources[1].name: duplicate source name 'web'",
        "sources[1].write_keys: a write key also listed by source 'web'",
        "sources[2].name: expected letters, digits",
        "sources[2].write_keys: required: at least one write key",
        "destinations[0].mappings[1].name: duplicate mapping name 'T'",
        "destinations[1].name: duplicate destination name 'prod'",
        "destinations[2].name: required: a unique name for this destination",
    ):
        assert expected in joined, (expected, errors)
    for secret in ENV.values():
        assert secret not in joined


def test_at_most_50_mappings_per_destination(tmp_path: Path) -> None:
    mappings = ", ".join(f'{{name: "M{i}", action: trackEvent}}' for i in range(51))
    errors = problems(tmp_path, f"destinations:\n  - name: big\n    mappings: [{mappings}]\n")
    assert errors == ["destinations[0].mappings: at most 50 mappings are allowed (as in Segment), got 51"]
