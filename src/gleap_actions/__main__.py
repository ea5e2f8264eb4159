"""`python -m gleap_actions` runs the CLI."""

from gleap_actions.cli import main

main()
