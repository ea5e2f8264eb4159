"""The engine's errors carry what their handlers read: every problem of a configuration, one a line."""

from __future__ import annotations

from gleap_actions.engine.errors import ConfigError


def test_a_config_error_lists_every_problem_one_a_line() -> None:
    problems = ["subscriptions[0].trigger: expected a condition", "settings.apiToken: required"]
    error = ConfigError(problems)
    assert error.errors == problems
    assert error.errors is not problems  # a copy: the caller may keep appending to its list
    assert str(error) == "subscriptions[0].trigger: expected a condition\nsettings.apiToken: required"
    assert isinstance(error, ValueError)
