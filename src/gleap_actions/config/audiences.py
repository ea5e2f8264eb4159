"""The `audiences` and `computed_traits` lists: each entry checked and its definition compiled at load.

An entry: `name` (required), `key` (the trait name sent to Gleap; default: the snake_case of the name),
`definition` (Segment's query language; required), `enabled` (default true), `include_anonymous_users`
(default false). Keys are unique across both lists, since both become traits of the same profile.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gleap_actions.audiences import Definition, Kind, QuerySyntaxError, compile_definition
from gleap_actions.audiences.dependencies import find_cycle, graph
from gleap_actions.config.problems import Problems, describe, join
from gleap_actions.config.reader import Section

_NOT_ALPHANUMERIC = re.compile(r"[^0-9a-z]+")
_KEY = re.compile(r"[A-Za-z0-9_]+")
SECTIONS: tuple[tuple[str, Kind], ...] = (("audiences", "audience"), ("computed_traits", "computed_trait"))


@dataclass(frozen=True)
class Computation:
    """One configured audience or computed trait, compiled."""

    name: str
    key: str
    definition: Definition
    enabled: bool = True
    key_given: bool = False  # `key:` was written (else it is the name's snake_case, kept once stored)

    @property
    def kind(self) -> Kind:
        """`audience` or `computed_trait`."""
        return self.definition.kind

    @property
    def include_anonymous_users(self) -> bool:
        """Whether profiles without a userId are evaluated too."""
        return self.definition.include_anonymous_users


def snake_case(name: str) -> str:
    """Segment's key for a name: lower case, each run of other characters one `_`, none at the ends.

    `"Order Completed Last 30 Days"` -> `order_completed_last_30_days`; `"High-Value Users!"` ->
    `high_value_users`.
    """
    return _NOT_ALPHANUMERIC.sub("_", name.lower()).strip("_")


def read_computations(root: Section) -> tuple[tuple[Computation, ...], tuple[Computation, ...]]:
    """The valid entries of `audiences` and `computed_traits`; problems for the others."""
    keys: dict[str, str] = {}  # key -> location of the entry that has it
    lists = []
    for section_name, kind in SECTIONS:
        value = root.raw(section_name)
        entries: list[Computation] = []
        if value is not None and not isinstance(value, list):
            root.problems.add(section_name, f"expected a list, got {describe(value)}")
        for index, item in enumerate(value if isinstance(value, list) else []):
            if not isinstance(item, dict):
                root.problems.add(join(section_name, index), f"expected a mapping, got {describe(item)}")
                continue
            entry = _read_entry(Section(item, join(section_name, index), root.problems), kind, keys)
            if entry is not None:
                entries.append(entry)
        lists.append(tuple(entries))
    _check_cycles([*lists[0], *lists[1]], keys, root.problems)
    return lists[0], lists[1]


def read_on_removal(root: Section) -> str:
    """`audiences_on_removal`: `keep` (default, as Segment: Gleap keeps the last values of a definition
    deleted or disabled) or `unset` (false to its audience members, null to profiles with a trait value)."""
    value = root.string("audiences_on_removal", "keep")
    if value not in ("keep", "unset"):
        root.problems.add("audiences_on_removal", f"expected keep or unset, got {describe(value)}")
        return "keep"
    return value


def read_nice(root: Section) -> int:
    """`audiences_nice` (default 10): how much lower than `serve` the compute stage's process is scheduled
    (its nice increment, 0 to 19), so that delivering the events received keeps the CPU at saturation."""
    return root.integer("audiences_nice", 10, minimum=0, maximum=19)


def _check_cycles(entries: list[Computation], locations: dict[str, str], problems: Problems) -> None:
    """An entry may read another one's key as a trait, but not (through others) its own."""
    cycle = find_cycle(graph({entry.key: entry.definition for entry in entries}))
    if cycle is not None:
        problems.add(f"{locations[cycle[0]]}.definition", describe_cycle(cycle, entries))


def describe_cycle(cycle: list[str], entries: list[Computation]) -> str:
    """What is wrong with a cycle of keys (`find_cycle`'s), naming its first definition."""
    names = {entry.key: entry.name for entry in entries}
    first = cycle[0]
    if len(cycle) == 2:
        return (
            f"{names.get(first, first)!r} reads trait('{first}'), its own key (a cycle): give it another "
            "key, or read a trait of another name"
        )
    path = " -> ".join(f"trait('{key}')" for key in cycle[1:])
    return f"{names.get(first, first)!r} (key {first}) reads itself through {path} (a cycle)"


def _read_entry(section: Section, kind: Kind, keys: dict[str, str]) -> Computation | None:
    problems: Problems = section.problems
    before = len(problems.items)
    name = section.string("name", None)
    if name is None and section.raw("name") is None:
        problems.add(section.at("name"), "required: a name such as 'High Value Users'")
    key = section.string("key", None)
    if key is None and name is not None:
        key = snake_case(name)
        if not key:
            problems.add(section.at("key"), f"required: the name {name!r} has no letter or digit to use")
    if key is not None and section.has("key") and not _KEY.fullmatch(key):
        problems.add(section.at("key"), f"expected letters, digits and underscores, got {describe(key)}")
    elif key:
        if key in keys:
            problems.add(section.at("key"), f"{key!r} is already the key of {keys[key]}")
        else:
            keys[key] = section.location
    enabled = section.boolean("enabled", True)
    anonymous = section.boolean("include_anonymous_users", False)
    definition = _compile(section.raw("definition"), kind, anonymous, section)
    section.finish()
    if len(problems.items) > before or name is None or key is None or definition is None:
        return None
    return Computation(name, key, definition, enabled, section.has("key"))


def _compile(text: Any, kind: Kind, anonymous: bool, section: Section) -> Definition | None:
    if text is None or (isinstance(text, str) and not text.strip()):
        example = "event('Signed Up').count() >= 1" if kind == "audience" else "event('Signed Up').count()"
        section.problems.add(section.at("definition"), f"required: a definition such as {example}")
        return None
    if not isinstance(text, str):
        section.problems.add(section.at("definition"), f"expected a string, got {describe(text)}")
        return None
    try:
        return compile_definition(text, kind=kind, include_anonymous_users=anonymous)
    except QuerySyntaxError as exc:
        section.problems.add(section.at("definition"), str(exc))
        return None
