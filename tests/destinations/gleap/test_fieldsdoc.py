"""docs/actions.md is what the action definitions say: regenerate it with scripts/actions-doc."""

from __future__ import annotations

from pathlib import Path

from gleap_actions.destinations.gleap.actions import ACTIONS
from gleap_actions.destinations.gleap.fieldsdoc import SENT_AS, render

DOC = Path(__file__).parents[3] / "docs" / "actions.md"


def test_every_field_says_what_it_becomes_in_the_gleap_request() -> None:
    assert {name: set(fields) for name, fields in SENT_AS.items()} == {
        name: set(action.fields) for name, action in ACTIONS.items()
    }


def test_docs_actions_md_matches_the_definitions() -> None:
    assert DOC.read_text() == render(), "docs/actions.md is out of date: run scripts/actions-doc"
