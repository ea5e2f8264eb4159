"""Every command of this part has `--help`."""

import pytest
from click.testing import CliRunner

from gleap_actions.cli import cli


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["config", "validate", "--help"], "Usage: cli config validate [OPTIONS] PATH"),
        (["preview", "--help"], "Usage: cli preview [OPTIONS] EVENTS"),
        (["check-auth", "--help"], "Usage: cli check-auth [OPTIONS]"),
        (["delete-user", "--help"], "Usage: cli delete-user [OPTIONS] USER_ID"),
    ],
)
def test_help(args: list[str], expected: str) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0
    assert result.stdout.startswith(expected)
