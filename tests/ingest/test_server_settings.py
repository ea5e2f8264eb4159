"""The server settings behind the libraries' endpoints: config reading and the rate limiter's arithmetic."""

from __future__ import annotations

from pathlib import Path

import pytest

from gleap_actions.config import ConfigError, load_config
from gleap_actions.ingest.ratelimit import WriteKeyRateLimit


def load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return load_config(path)


def test_server_settings_are_read(tmp_path: Path) -> None:
    config = load_config(None)
    assert config.server.public_url is None and config.server.cors_origins == ("*",)
    assert config.server.events_per_second == 0
    path = tmp_path / "c.yaml"
    path.write_text(
        "server:\n"
        "  public_url: https://events.example.com/\n"
        "  cors_origins: [https://App.Example.com/, 'http://127.0.0.1:3000']\n"
        "  rate_limit: {events_per_second: 50, burst: 500}\n"
    )
    server = load_config(path).server
    assert server.public_url == "https://events.example.com"
    assert server.cors_origins == ("https://app.example.com", "http://127.0.0.1:3000")
    assert (server.events_per_second, server.burst) == (50, 500)


def test_server_setting_problems_name_their_place(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(
            tmp_path,
            "server:\n"
            "  public_url: events.example.com\n"
            "  cors_origins: [https://app.example.com/path, '*', ftp://x]\n"
            "  rate_limit: {events_per_second: -1, bursts: 3}\n",
        )
    text = "\n".join(caught.value.errors)
    assert "server.public_url: expected an http:// or https:// URL" in text
    assert "server.cors_origins[0]: expected '*' or an origin" in text
    assert "server.cors_origins[2]: expected '*' or an origin" in text
    assert "server.cors_origins[1]" not in text
    assert "server.rate_limit.events_per_second: must be at least 0" in text
    assert "server.rate_limit.bursts: unknown key" in text


def test_rate_limit_takes_a_request_while_tokens_remain_then_waits_for_the_debt() -> None:
    limit = WriteKeyRateLimit(events_per_second=10, burst=20)
    assert limit.admit("a", 50, now=0.0) is None  # a big batch goes through once...
    assert limit.admit("a", 1, now=0.0) == 4  # ...and the next request waits the 30-event debt off
    assert limit.admit("b", 1, now=0.0) is None  # another key: its own bucket
    assert limit.admit("a", 1, now=3.0) == 1
    assert limit.admit("a", 1, now=3.2) is None
    assert WriteKeyRateLimit(events_per_second=5).burst == 100  # default burst: at least 100
    assert WriteKeyRateLimit(events_per_second=50).burst == 500  # ten seconds' worth


def test_rate_limit_forgets_refilled_buckets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gleap_actions.ingest.ratelimit._PRUNE_ABOVE", 3)
    limit = WriteKeyRateLimit(events_per_second=1, burst=2)
    for key in "abc":
        limit.admit(key, 1, now=0.0)
    limit.admit("d", 1, now=10.0)  # a, b and c have refilled: forgotten
    assert set(limit._buckets) == {"d"}
