"""Definitions reading other definitions as traits: cycles refused at load, values computed in order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gleap_actions.audiences.dependencies import evaluation_order, find_cycle
from gleap_actions.cli import cli
from gleap_actions.config import ConfigError, load_config


@pytest.mark.parametrize(
    ("edges", "cycle"),
    [
        ({"a": ["b"], "b": []}, None),
        ({"a": ["a"]}, ["a", "a"]),
        ({"a": ["b"], "b": ["c"], "c": ["a"]}, ["a", "b", "c", "a"]),
        ({"x": ["a"], "a": ["b"], "b": ["a"]}, ["a", "b", "a"]),
        ({"a": ["b", "c"], "b": ["c"], "c": []}, None),  # a diamond is not a cycle
    ],
)
def test_find_cycle(edges: dict[str, list[str]], cycle: list[str] | None) -> None:
    assert find_cycle(edges) == cycle


def test_evaluation_order_puts_each_key_after_what_it_reads() -> None:
    edges = {"top": ["b", "c"], "b": ["c", "d"], "c": ["d"], "d": []}
    assert evaluation_order(edges, "top") == ["d", "c", "b"]


def test_a_cycle_between_definitions_is_a_config_problem(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        """
audiences:
  - {name: A, definition: "trait('b') = true"}
  - {name: B, definition: "trait('c') > 2"}
computed_traits:
  - {name: C, definition: "event('X').where(trait('a') = true).count()"}
"""
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.errors == [
        "audiences[0].definition: 'A' (key a) reads itself through trait('b') -> trait('c') -> trait('a')"
        " (a cycle)"
    ]


SELF = """
gleap: {api_token: x}
audiences:
  - {name: Pro Plan, key: plan, definition: "trait('plan') = 'pro'"}
"""


def test_a_definition_reading_its_own_key_is_refused_by_config_validate(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(SELF)
    result = CliRunner().invoke(cli, ["config", "validate", str(path)])
    assert result.exit_code == 1
    assert (
        "audiences[0].definition: 'Pro Plan' reads trait('plan'), its own key (a cycle): give it another"
        " key, or read a trait of another name"
    ) in result.output


@pytest.mark.parametrize(
    ("edges", "cycle"), [({"plan": ["plan"]}, "plan -> plan"), ({"a": ["b"], "b": ["a"]}, "a -> b -> a")]
)
def test_evaluation_order_names_a_cycle_instead_of_recursing(edges: dict[str, list[str]], cycle: str) -> None:
    with pytest.raises(ValueError, match=f"in a cycle: {cycle}"):
        evaluation_order(edges, next(iter(edges)))


def test_preview_computes_the_definitions_read_as_traits(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        """
audiences:
  - {name: Big Spenders, definition: "trait('total_revenue') >= 100"}
computed_traits:
  - {name: Total Revenue, definition: "event('Order Completed').sum(property('total'))"}
"""
    )
    events = tmp_path / "e.jsonl"
    lines = [
        {"type": "track", "event": "Order Completed", "userId": "u1", "timestamp": "2024-05-01T00:00:00Z",
         "properties": {"total": total}}
        for total in (60, 70)
    ] + [{"type": "track", "event": "Order Completed", "userId": "u2", "timestamp": "2024-05-01T00:00:00Z",
          "properties": {"total": 20}}]  # fmt: skip
    events.write_text("".join(json.dumps(line) + "\n" for line in lines))
    now = ["--now", "2024-06-01T00:00:00Z", "--config", str(config)]
    result = CliRunner().invoke(cli, ["audiences", "preview", str(events), "big_spenders", *now])
    assert result.exit_code == 0, result.output
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"userId": "u1", "anonymousIds": [], "value": True}
    ]
    definition = ["--definition", "trait('total_revenue') < 100"]
    result = CliRunner().invoke(cli, ["audiences", "preview", str(events), *definition, *now])
    assert [json.loads(line)["userId"] for line in result.stdout.splitlines()] == ["u2"]
