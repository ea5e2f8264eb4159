"""The `gleap-actions` command line: `main` and one small module per subcommand."""

from gleap_actions.cli.main import cli, main

__all__ = ["cli", "main"]
