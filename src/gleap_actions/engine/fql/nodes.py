"""The FQL syntax tree the parser produces and the compiler consumes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gleap_actions.engine.fql.values import Number

Path = tuple[str, ...]
Value = str | Number | bool | None
Operator = Literal["=", "!=", "<", "<=", ">", ">="]
ORDER_OPERATORS: frozenset[str] = frozenset({"<", "<=", ">", ">="})


@dataclass(frozen=True, slots=True)
class Comparison:
    """`path op value`, e.g. `properties.total > 100`. Order operators always carry a number."""

    path: Path
    operator: Operator
    value: Value


@dataclass(frozen=True, slots=True)
class Function:
    """`contains(path, "text")` or `match(path, "glob*")`; `negated` is Segment's `!contains`/`!match`:
    the field must still be a string, so a missing field matches neither form."""

    name: Literal["contains", "match"]
    path: Path
    argument: str
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Not:
    """Logical negation of a condition or a parenthesised group."""

    child: Node


@dataclass(frozen=True, slots=True)
class And:
    """All children hold (two or more)."""

    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """At least one child holds (two or more)."""

    children: tuple[Node, ...]


Node = Comparison | Function | Not | And | Or
