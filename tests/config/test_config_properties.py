"""Property: whatever the file holds, load_config returns a Config or raises ConfigError, nothing else."""

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gleap_actions.config import Config, ConfigError, load_config

KEYS = [
    "gleap", "server", "storage", "delivery", "mappings", "api_token", "base_url", "timeout", "host", "port",
    "write_keys", "admin_token", "data_dir", "url", "dedup_window", "retention", "retry_window",
    "max_concurrency", "requests_per_minute", "linger", "initial_backoff", "max_backoff", "name", "action",
    "trigger", "mapping", "enabled", "batching", "size", "bytes", "trackEvent", "identifyContact", "@path",
]  # fmt: skip
TEXTS = st.one_of(
    st.sampled_from(
        ["${X}", "${X:-1s}", "${", "$$", "http://[x", "http://127.0.0.1:1", "4h", "-1", "0", "1e309",
         'type = "track"', "type =", "$.userId", "trackEvent", "identifyContact", "postgresql://u:p@h/d"]
    ),
    st.text(max_size=12),
)  # fmt: skip
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), TEXTS)
VALUES: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=6)), inner, max_size=5)
    ),
    max_leaves=25,
)
DOCUMENTS = st.dictionaries(st.sampled_from(KEYS[:5]), VALUES, max_size=5) | VALUES


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    document=DOCUMENTS,
    env=st.dictionaries(st.sampled_from(["X", "GLEAP_BASE_URL", "GLEAP_API_TOKEN"]), TEXTS),
)
def test_any_document_loads_or_raises_config_error(document: Any, env: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "c.yaml"
        path.write_text(yaml.safe_dump(document, allow_unicode=True))
        try:
            config = load_config(path, env=env)
        except ConfigError as exc:
            assert exc.errors
            assert all(isinstance(error, str) and error for error in exc.errors)
        else:
            assert isinstance(config, Config)


ENTRIES = st.fixed_dictionaries(
    {"name": st.text(min_size=1, max_size=8), "action": st.sampled_from(["trackEvent", "identifyContact"])},
    optional={"trigger": TEXTS, "mapping": VALUES, "batching": VALUES, "enabled": SCALARS},
)


@settings(max_examples=200, deadline=None)
@given(entries=st.lists(ENTRIES, max_size=4))
def test_any_mapping_entries_load_or_raise_config_error(entries: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "c.yaml"
        path.write_text(yaml.safe_dump({"mappings": entries}, allow_unicode=True))
        try:
            config = load_config(path, env={})
        except ConfigError as exc:
            assert exc.errors
        else:
            assert len(config.subscriptions) == len(entries)
