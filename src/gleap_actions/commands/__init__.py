"""The `gleap-actions` subcommands, one small module each, registered in `gleap_actions.cli`."""
