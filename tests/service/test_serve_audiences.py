"""A real `gleap-actions serve` process computing an audience: track calls make a user enter it and the
identify reaches the sandbox as a custom attribute; the window expiring makes them leave it."""

from __future__ import annotations

import time
from pathlib import Path

from gleap_actions.sandbox import SandboxThread

from .conftest import write_config
from .test_serve_process import Served, _env, _post, _wait


def test_track_calls_enter_an_audience_and_the_window_expiry_exits(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    audience = {"name": "Active Clickers", "definition": "event('Clicked').within(10 seconds).count() >= 2"}
    config = write_config(tmp_path, sandbox.url, sections={"audiences": [audience]})
    served = Served(["--config", str(config)], _env())
    try:
        assert (
            _post(served.url + "/v1/identify", {"userId": "aud-1", "traits": {"email": "a@example.com"}})
            == 200
        )
        _wait(lambda: sandbox.state.contact("aud-1") is not None)
        # The window starts at the first click: both clicks go out together, after the contact exists, so a
        # slow machine cannot age the first one out before the second arrives.
        assert _post(served.url + "/v1/track", {"userId": "aud-1", "event": "Clicked"}) == 200
        _wait(lambda: sandbox.state.event_count("aud-1") == 1)
        time.sleep(0.5)
        assert "active_clickers" not in (sandbox.state.contact("aud-1") or {})  # one click is not enough
        assert _post(served.url + "/v1/track", {"userId": "aud-1", "event": "Clicked"}) == 200
        _wait(lambda: (sandbox.state.contact("aud-1") or {}).get("active_clickers") is True)
        # No more clicks: 10 seconds after the first one the user leaves the audience.
        _wait(lambda: (sandbox.state.contact("aud-1") or {}).get("active_clickers") is False, timeout=30)
        assert sandbox.state.contact("aud-1")["email"] == "a@example.com"
    finally:
        assert served.stop()[0] == 0
