"""The building blocks of config loading: env interpolation, durations, typed readers, YAML reading."""

from pathlib import Path

import pytest

from gleap_actions.config.durations import parse_duration
from gleap_actions.config.interpolate import interpolate
from gleap_actions.config.problems import EnvStr, Problems, describe
from gleap_actions.config.reader import Section
from gleap_actions.config.yamlfile import read_yaml

ENV = {"TOKEN": "s3cr3t", "EMPTY": "", "PORT": "9000"}


def interpolated(value: object) -> tuple[object, list[str]]:
    problems = Problems()
    return interpolate(value, ENV, "root", problems), problems.items


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${TOKEN}", "s3cr3t"),
        ("Bearer ${TOKEN}!", "Bearer s3cr3t!"),
        ("${UNSET}", ""),
        ("${UNSET:-fallback}", "fallback"),
        ("${EMPTY:-fallback}", "fallback"),
        ("${EMPTY-fallback}", ""),
        ("${UNSET-fallback}", "fallback"),
        ("${TOKEN:-fallback}", "s3cr3t"),
        ("$${TOKEN}", "${TOKEN}"),
        ("cost: $5 and $$", "cost: $5 and $"),
        ("no references", "no references"),
    ],
)
def test_interpolation_forms(text: str, expected: str) -> None:
    assert interpolated(text) == (expected, [])


def test_interpolation_walks_lists_and_mappings_and_leaves_other_types() -> None:
    value, problems = interpolated({"a": ["${PORT}", 1, None, True], "b": {"c": "${TOKEN}"}})
    assert value == {"a": ["9000", 1, None, True], "b": {"c": "s3cr3t"}}
    assert problems == []


def test_interpolated_strings_are_marked_so_messages_never_echo_them() -> None:
    value, _ = interpolated("${TOKEN}")
    assert isinstance(value, EnvStr)
    assert "s3cr3t" not in describe(value)
    assert describe("literal") == "a string ('literal')"
    assert not isinstance(interpolated("plain")[0], EnvStr)


def test_required_variables_and_malformed_references_are_problems_with_locations() -> None:
    _, problems = interpolated({"x": "${UNSET:?set it to your token}", "y": ["${EMPTY:?}", "${1BAD}", "a${"]})
    assert problems == [
        "root.x: environment variable UNSET is required: set it to your token",
        "root.y[0]: environment variable EMPTY is required",
        "root.y[1]: malformed variable reference at column 1: expected ${NAME}, ${NAME:-default} or "
        "${NAME:?message} (write $$ for a literal $)",
        "root.y[2]: malformed variable reference at column 2: expected ${NAME}, ${NAME:-default} or "
        "${NAME:?message} (write $$ for a literal $)",
    ]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30", 30.0), ("2.5", 2.5), ("200ms", 0.2), ("30s", 30.0), ("5m", 300.0), ("4h", 14400.0),
     ("7d", 604800.0), ("1h30m", 5400.0), (" 1h 30m ", 5400.0), ("1H", 3600.0)],
)  # fmt: skip
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "5mm", "h", "1.h", "inf", "nan", "1 hour", "-"])
def test_bad_durations(text: str) -> None:
    assert parse_duration(text) is None


def test_section_getters_report_every_problem_and_return_defaults() -> None:
    problems = Problems()
    section = Section(
        {
            "port": "80x",
            "count": 0,
            "wait": "5 mins",
            "url": "ftp://example.com",
            "flag": "maybe",
            "keys": ["ok", 7, ""],
            "name": ["not", "a", "string"],
            "prot": 1,
        },
        "server",
        problems,
    )
    assert section.integer("port", 8080, minimum=0, maximum=65535) == 8080
    assert section.integer("count", 16, minimum=1) == 16
    assert section.duration("wait", 1.0) == 1.0
    assert section.url("url", "https://default") == "https://default"
    assert section.boolean("flag", True) is True
    assert section.string_list("keys", secret=True) == ("ok",)
    assert section.string("name", "x") == "x"
    section.finish()
    assert problems.items == [
        "server.port: expected an integer, got a string ('80x')",
        "server.count: must be at least 1, got 0",
        "server.wait: expected a duration such as 30s, 5m, 4h, 7d or a number of seconds, "
        "got a string ('5 mins')",
        "server.url: expected an http:// or https:// URL, got a string ('ftp://example.com')",
        "server.flag: expected true or false, got a string ('maybe')",
        "server.keys[1]: expected a string, got an integer",
        "server.name: expected a string, got a list",
        "server.prot: unknown key (did you mean 'port'?)",
    ]


def test_section_accepts_strings_from_the_environment_for_numbers_and_booleans() -> None:
    problems = Problems()
    section = Section(
        {"port": EnvStr("9000"), "on": EnvStr("false"), "wait": EnvStr("4h"), "n": 3.0}, "s", problems
    )
    assert section.integer("port", 1, minimum=0) == 9000
    assert section.boolean("on", True) is False
    assert section.duration("wait", 1.0) == 14400.0
    assert section.integer("n", 1, minimum=0) == 3
    assert problems.items == []


def test_secret_values_are_never_described() -> None:
    problems = Problems()
    section = Section({"token": 12345678, "keys": {"k": "hunter2"}}, "gleap", problems)
    assert section.string("token", None, secret=True) is None
    assert section.string_list("keys", secret=True) == ()
    assert problems.items == [
        "gleap.token: expected a string, got an integer",
        "gleap.keys: expected a list of strings, got a mapping",
    ]


def test_a_section_that_is_not_a_mapping_reads_as_empty_and_unknown_keys_list_the_known_ones() -> None:
    problems = Problems()
    Section([1, 2], "storage", problems).finish()
    section = Section({"zzz": 1}, "delivery", problems)
    section.integer("linger", 1, minimum=0)
    section.finish()
    assert problems.items == [
        "storage: expected a mapping, got a list",
        "delivery.zzz: unknown key (known keys: linger)",
    ]


def test_yaml_errors_give_line_and_column_but_never_the_line_itself(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text('gleap:\n  api_token: "s3cr3t\n')
    problems = Problems()
    assert read_yaml(path, problems) is None
    assert len(problems.items) == 1
    assert problems.items[0].startswith(f"{path}: line 3, column 1: invalid YAML: ")
    assert "s3cr3t" not in problems.items[0]


def test_yaml_duplicate_keys_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("server:\n  port: 1\n  port: 2\nserver: {}\n")
    problems = Problems()
    read_yaml(path, problems)
    assert problems.items == [
        f"{path}: line 3, column 3: duplicate key 'port'",
        f"{path}: line 4, column 1: duplicate key 'server'",
    ]


def test_yaml_refuses_python_tags_and_reports_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("x: !!python/object/apply:os.system ['true']\n")
    problems = Problems()
    assert read_yaml(path, problems) is None
    assert read_yaml(tmp_path / "missing.yaml", problems) is None
    assert "could not determine a constructor" in problems.items[0]
    assert problems.items[1] == f"{tmp_path / 'missing.yaml'}: no such file"
