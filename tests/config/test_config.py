"""Loading valid configs: defaults, presets, the full documented example, interpolation, overrides."""

import re
from pathlib import Path

import pytest

from gleap_actions.config.load import (
    SANDBOX_API_TOKEN,
    Config,
    DeliveryConfig,
    ServerConfig,
    StorageConfig,
    load_config,
)
from gleap_actions.destinations.gleap.presets import PRESETS

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gleap-actions.yaml"
    path.write_text(text)
    return path


def test_no_file_gives_defaults_the_segment_presets_and_the_sandbox() -> None:
    config = load_config(None, env={})
    assert config.uses_sandbox
    assert config.gleap.api_token == SANDBOX_API_TOKEN
    assert config.gleap.base_url == "https://api.gleap.io"
    assert config.gleap.timeout == 10.0
    assert config.server == ServerConfig()
    assert config.storage == StorageConfig()
    assert config.delivery == DeliveryConfig()
    assert [s.name for s in config.subscriptions] == [p["name"] for p in PRESETS]
    by_name = {s.name: s for s in config.subscriptions}
    assert by_name["Track Event"].action.name == "trackEvent"
    assert by_name["Track Event"].trigger_text == 'type = "track" or type = "page" or type = "screen"'
    assert by_name["Track Event"].enabled
    assert by_name["Identify Contact"].action.name == "identifyContact"
    assert by_name["Identify Contact"].trigger_text == 'type = "identify"'
    assert by_name["Identify Contact"].enabled


def test_an_empty_file_and_a_file_without_mappings_also_give_the_presets(tmp_path: Path) -> None:
    assert len(load_config(write(tmp_path, ""), env={}).subscriptions) == len(PRESETS)
    config = load_config(write(tmp_path, "server: {port: 9000}\n"), env={})
    assert config.server.port == 9000
    assert len(config.subscriptions) == len(PRESETS)


def test_an_empty_mappings_list_means_no_mappings(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "mappings: []\n"), env={}).subscriptions == ()


def test_the_full_example_of_the_docs_loads(tmp_path: Path) -> None:
    example = re.search(r"## A full example\n\n```yaml\n(.*?)```", DOCS.read_text(), re.S)
    assert example is not None
    env = {"GLEAP_API_TOKEN": "tok-123", "WRITE_KEY_WEB": "wk1", "WRITE_KEY_BACKEND": "wk2"}
    config = load_config(write(tmp_path, example.group(1)), env=env)
    assert not config.uses_sandbox
    assert config.gleap.api_token == "tok-123"
    assert config.server == ServerConfig(
        host="0.0.0.0", port=8080, write_keys=("wk1", "wk2"), admin_token=None
    )
    assert config.storage == StorageConfig(
        data_dir=tmp_path / "data", dedup_window=86400.0, retention=604800.0
    )
    assert config.delivery == DeliveryConfig(
        retry_window=14400.0,
        max_concurrency=16,
        requests_per_minute=1000,
        linger=0.2,
        initial_backoff=1.0,
        max_backoff=300.0,
    )
    track, identify, orders = config.subscriptions
    assert (track.name, track.batching, track.batch_size, track.enabled) == ("Track Event", True, 100, True)
    assert (identify.action.name, identify.batching) == ("identifyContact", False)
    assert (orders.name, orders.enabled, orders.batching) == ("Orders only", False, False)
    assert orders.trigger_text == 'event = "Order Completed" and properties.total > 100'


def test_every_value_is_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
gleap: {api_token: literal-token, base_url: "http://127.0.0.1:9999/", timeout: 2.5}
server: {host: 0.0.0.0, port: 0, write_keys: [a, b], admin_token: adm}
storage: {data_dir: /var/lib/gleap, url: "postgresql://u:pw@db/x", dedup_window: 1h, retention: 2d}
delivery: {retry_window: 90m, max_concurrency: 4, requests_per_minute: 60, linger: 0,
           initial_backoff: 50ms, max_backoff: 2s}
mappings:
  - {name: T, action: trackEvent, batching: {size: 10, bytes: 2048}}
  - {name: I, action: identifyContact, trigger: 'type = "identify" and userId != null'}
""",
    )
    config = load_config(path, env={})
    assert config.gleap.api_token == "literal-token"
    assert config.gleap.base_url == "http://127.0.0.1:9999"
    assert config.gleap.timeout == 2.5
    assert config.server == ServerConfig("0.0.0.0", 0, ("a", "b"), "adm")
    assert config.storage == StorageConfig(Path("/var/lib/gleap"), "postgresql://u:pw@db/x", 3600.0, 172800.0)
    assert config.delivery == DeliveryConfig(5400.0, 4, 60, 0.0, 0.05, 2.0)
    track, identify = config.subscriptions
    assert (track.batching, track.batch_size, track.batch_bytes) == (True, 10, 2048)
    assert track.trigger_text == 'type = "track" or type = "page" or type = "screen"'
    assert identify.trigger_text == 'type = "identify" and userId != null'
    assert not identify.batching
    assert config.path == path


def test_env_interpolation_in_any_section(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
gleap: {api_token: "${TOKEN}", base_url: "${GLEAP_HOST:-https://api.gleap.io}"}
server: {port: "${PORT:-8080}", write_keys: ["${KEY1}", "${KEY2}"], admin_token: "${ADMIN}"}
storage: {dedup_window: "${DEDUP:-24h}"}
mappings:
  - name: "${PREFIX}Track"
    action: trackEvent
    enabled: "${TRACKING:-true}"
    trigger: 'event = "${EVENT_NAME}"'
""",
    )
    env = {
        "TOKEN": "t0k",
        "PORT": "9100",
        "KEY1": "k1",
        "PREFIX": "web-",
        "TRACKING": "no",
        "EVENT_NAME": "Buy",
    }
    config = load_config(path, env=env)
    assert config.gleap.api_token == "t0k"
    assert config.gleap.base_url == "https://api.gleap.io"
    assert config.server.port == 9100
    assert config.server.write_keys == ("k1",)  # the unset KEY2 is dropped
    assert config.server.admin_token is None  # the unset ADMIN means no admin API
    assert config.storage.dedup_window == 86400.0
    (subscription,) = config.subscriptions
    assert (subscription.name, subscription.enabled) == ("web-Track", False)
    assert subscription.trigger_text == 'event = "Buy"'


def test_an_unset_token_variable_means_the_sandbox(tmp_path: Path) -> None:
    path = write(tmp_path, 'gleap: {api_token: "${GLEAP_API_TOKEN}"}\n')
    assert load_config(path, env={}).uses_sandbox
    assert load_config(path, env={"GLEAP_API_TOKEN": ""}).uses_sandbox
    config = load_config(path, env={"GLEAP_API_TOKEN": "real"})
    assert not config.uses_sandbox
    assert config.gleap.api_token == "real"


def test_environment_overrides_win_over_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
gleap: {api_token: from-file, base_url: "https://file.example"}
server: {write_keys: [file-key], admin_token: file-admin}
storage: {data_dir: file-data}
""",
    )
    env = {
        "GLEAP_API_TOKEN": "env-token",
        "GLEAP_BASE_URL": "http://127.0.0.1:1234/",
        "GLEAP_ACTIONS_WRITE_KEYS": "k1, k2,,k3",
        "GLEAP_ACTIONS_ADMIN_TOKEN": "env-admin",
        "GLEAP_ACTIONS_DATA_DIR": "/tmp/env-data",
    }
    config = load_config(path, env=env)
    assert config.gleap.api_token == "env-token"
    assert config.gleap.base_url == "http://127.0.0.1:1234"
    assert config.server.write_keys == ("k1", "k2", "k3")
    assert config.server.admin_token == "env-admin"
    assert config.storage.data_dir == Path("/tmp/env-data")
    # Empty overrides are ignored.
    empty = {name: "" for name in env}
    config = load_config(path, env=empty)
    assert config.gleap.api_token == "from-file"
    assert config.server.write_keys == ("file-key",)
    assert config.storage.data_dir == tmp_path / "file-data"


def test_overrides_apply_without_a_file() -> None:
    config = load_config(None, env={"GLEAP_API_TOKEN": "t", "GLEAP_ACTIONS_WRITE_KEYS": "w"})
    assert not config.uses_sandbox
    assert config.server.write_keys == ("w",)


def test_path_may_be_a_string(tmp_path: Path) -> None:
    assert load_config(str(write(tmp_path, "server: {port: 1}\n")), env={}).server.port == 1


@pytest.mark.parametrize("mapping_count", [1, 50])
def test_up_to_fifty_mappings(tmp_path: Path, mapping_count: int) -> None:
    entries = "".join(f"  - {{name: m{i}, action: trackEvent}}\n" for i in range(mapping_count))
    config = load_config(write(tmp_path, "mappings:\n" + entries), env={})
    assert isinstance(config, Config)
    assert len(config.subscriptions) == mapping_count


def test_reprs_never_show_secrets(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
gleap: {api_token: "${TOKEN}"}
server: {write_keys: [wk-secret-1, wk-secret-2], admin_token: admin-secret}
storage: {url: "postgresql://u:pg-secret@db/x"}
""",
    )
    config = load_config(path, env={"TOKEN": "gleap-secret"})
    text = repr(config) + str(config) + repr(config.gleap) + repr(config.server) + repr(config.storage)
    for secret in ("gleap-secret", "wk-secret-1", "wk-secret-2", "admin-secret", "pg-secret"):
        assert secret not in text
    assert "write_keys=('***', '***')" in repr(config.server)
    assert "admin_token='***'" in repr(config.server)
    assert "admin_token=None" in repr(ServerConfig())
    assert "subscriptions=('Track Event', 'Identify Contact', " in repr(load_config(None, env={}))


def test_coalesce_is_on_for_identify_unless_turned_off(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
mappings:
  - {name: I, action: identifyContact}
  - {name: J, action: identifyContact, coalesce: false}
  - {name: T, action: trackEvent, coalesce: false}
""",
    )
    assert [s.coalesce for s in load_config(path, env={}).subscriptions] == [True, False, False]
