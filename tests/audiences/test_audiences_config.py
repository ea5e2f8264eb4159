"""The `audiences` and `computed_traits` config lists: compiled at load, every problem located."""

from __future__ import annotations

from pathlib import Path

import pytest

from gleap_actions.config import ConfigError, load_config
from gleap_actions.config.audiences import snake_case


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_entries_are_compiled_with_their_defaults(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            """
audiences:
  - name: Order Completed Last 30 Days
    definition: "event('Order Completed').within(30 days).count() >= 1"
  - name: VIP
    key: vip_customers
    definition: "trait('plan') = 'vip'"
    enabled: false
    include_anonymous_users: true
computed_traits:
  - name: Total Revenue (180 days)
    definition: "event('Order Completed').within(180 days).sum(property('total'))"
""",
        )
    )
    first, second = config.audiences
    assert (first.name, first.key, first.enabled, first.include_anonymous_users) == (
        "Order Completed Last 30 Days",
        "order_completed_last_30_days",
        True,
        False,
    )
    assert first.kind == "audience"
    assert first.definition.references.events == {"Order Completed"}
    assert (second.key, second.enabled, second.include_anonymous_users) == ("vip_customers", False, True)
    (trait,) = config.computed_traits
    assert (trait.key, trait.kind) == ("total_revenue_180_days", "computed_trait")
    assert "computed_traits=('Total Revenue (180 days)',)" in repr(config)


def test_no_lists_means_none(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "gleap: {timeout: 5s}\n"))
    assert config.audiences == () and config.computed_traits == ()


def test_every_problem_is_listed_with_its_location(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
audiences:
  - name: Buyers
    definition: "event('Order Completed').count() >= "
  - name: Other Buyers
    key: buyers
    definition: "trait('x') = 1"
  - definition: "trait('x') = 1"
    key: "a b"
  - name: "!!!"
    definition: "trait('x') = 1"
  - name: Typo
    defintion: "trait('x') = 1"
    enabled: maybe
  - name: Number
    definition: 5
  - just a string
computed_traits:
  - name: Flag
    definition: "trait('x') = 1"
  - name: Buyers
    definition: "event('Order Completed').count()"
""",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.errors == [
        "audiences[0].definition: column 37: expected a value (a quoted string, a number, a date, true, "
        "false, literal(), trait() or property()), got end of definition",
        "audiences[1].key: 'buyers' is already the key of audiences[0]",
        "audiences[2].name: required: a name such as 'High Value Users'",
        "audiences[2].key: expected letters, digits and underscores, got a string ('a b')",
        "audiences[3].key: required: the name '!!!' has no letter or digit to use",
        "audiences[4].enabled: expected true or false, got a string ('maybe')",
        "audiences[4].definition: required: a definition such as event('Signed Up').count() >= 1",
        "audiences[4].defintion: unknown key (did you mean 'definition'?)",
        "audiences[5].definition: expected a string, got an integer (5)",
        "audiences[6]: expected a mapping, got a string ('just a string')",
        "computed_traits[0].definition: column 12: a computed trait must end in a value (such as count() or "
        "sum(property('x'))), not a comparison",
        "computed_traits[1].key: 'buyers' is already the key of audiences[0]",
    ]


def test_a_list_is_required(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, "audiences: {name: x}\n"))
    assert caught.value.errors == ["audiences: expected a list, got a mapping"]


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Dormant Shoppers", "dormant_shoppers"),
        ("Last Product Viewed Item", "last_product_viewed_item"),
        ("Order Completed Last 30 Days", "order_completed_last_30_days"),
        ("High-Value Users!", "high_value_users"),
        ("Pricing Page Views Last 30 Days", "pricing_page_views_last_30_days"),
        ("Total Revenue (180 days)", "total_revenue_180_days"),
        ("  spaced  out  ", "spaced_out"),
        ("totalSpend", "totalspend"),
    ],
)
def test_snake_case_keys(name: str, key: str) -> None:
    assert snake_case(name) == key


def test_config_validate_summarises_and_lists_problems(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from gleap_actions.cli import cli

    good = write(
        tmp_path,
        """
audiences:
  - {name: Recent Buyers, definition: "event('Order Completed').within(7 days).count() >= 1"}
  - {name: Paused, key: paused_list, definition: "trait('x') = 1", enabled: false}
computed_traits:
  - {name: Revenue, definition: "event('Order Completed').sum(property('total'))"}
""",
    )
    result = CliRunner().invoke(cli, ["config", "validate", str(good)])
    assert result.exit_code == 0
    assert "2 audience(s), 1 enabled: recent_buyers, paused_list\n" in result.stdout
    assert "1 computed trait(s), 1 enabled: revenue\n" in result.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("audiences:\n  - {name: A, definition: \"event('x').count() >\"}\n")
    result = CliRunner().invoke(cli, ["config", "validate", str(bad)])
    assert result.exit_code == 1
    assert result.stderr == (
        f"{bad}: 1 problem(s)\n  audiences[0].definition: column 21: expected a value (a quoted string, a "
        "number, a date, true, false, literal(), trait() or property()), got end of definition\n"
    )


def test_audiences_nice_defaults_to_10_and_is_checked(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "audiences: []\n")).audiences_nice == 10
    assert load_config(write(tmp_path, "audiences_nice: 0\n")).audiences_nice == 0
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, "audiences_nice: 20\n"))
    assert len(caught.value.errors) == 1 and caught.value.errors[0].startswith("audiences_nice: ")
