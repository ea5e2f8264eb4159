"""The syntax tree of a definition, as the parser builds it and the compiler reads it.

Times are whole microseconds so that window edges computed at compile time, at evaluation and for
`next_change` are the same integers (no float rounding at an edge).
"""

from __future__ import annotations

from dataclasses import dataclass

MICROS = {"second": 1_000_000, "minute": 60_000_000, "hour": 3_600_000_000, "day": 86_400_000_000}


@dataclass(frozen=True, slots=True)
class Duration:
    """`7 days`: an amount of a unit, and its length in microseconds."""

    amount: int
    unit: str
    micros: int

    def __str__(self) -> str:
        return f"{self.amount} {self.unit}{'' if self.amount == 1 else 's'}"


@dataclass(frozen=True, slots=True)
class Literal:
    """A constant: string, number, boolean, or a date/timestamp (kept as its text)."""

    value: object
    column: int


@dataclass(frozen=True, slots=True)
class TraitRef:
    """`trait('a.b')`: a profile trait; `path` is split on unescaped dots."""

    path: tuple[str, ...]
    column: int


@dataclass(frozen=True, slots=True)
class PropertyRef:
    """`property('x')` of the current event, or of the enclosing (parent) event with `parent: 'x'`."""

    path: tuple[str, ...]
    parent: bool
    column: int


@dataclass(frozen=True, slots=True)
class ContextRef:
    """`context('page.url')` of the current event."""

    path: tuple[str, ...]
    column: int


@dataclass(frozen=True, slots=True)
class Where:
    """`where(condition)`: keep the events for which the condition holds."""

    condition: Condition


@dataclass(frozen=True, slots=True)
class Window:
    """`within(d)` is [0, d), `between(s, e)` is [s, e): how long ago (or, with `parent`, how long after the
    parent event) an event may be."""

    start: int
    end: int
    parent: bool
    column: int


@dataclass(frozen=True, slots=True)
class Sources:
    """`sources({exclude: ...})`: drop events from these source ids."""

    exclude: frozenset[str]


@dataclass(frozen=True, slots=True)
class ExpiresAfter:
    """`expires_after(d)`: only the current session; it ends `d` after its last event."""

    micros: int


Filter = Where | Window | Sources | ExpiresAfter


@dataclass(frozen=True, slots=True)
class EventChain:
    """`event('Name')` and its filters, in the order written."""

    name: str
    filters: tuple[Filter, ...]
    column: int


@dataclass(frozen=True, slots=True)
class Reduce:
    """A reducer over an event chain: `count()`, `sum(p)`, `max(p as string)`, `mode(p, 2)`, `unique(p)`, ...

    `then_count`: `unique(p).count()`. `as_type` is the declared type (`number`, `string`, `array`) or None.
    """

    chain: EventChain
    reducer: str
    argument: PropertyRef | ContextRef | None
    as_type: str | None
    min_count: int
    then_count: bool
    column: int


Scalar = Literal | TraitRef | PropertyRef | ContextRef | Reduce


@dataclass(frozen=True, slots=True)
class Comparison:
    """`operand <comparator> arguments`; `comparator` is the canonical name (`at_least` for `>=`)."""

    operand: Scalar
    comparator: str
    arguments: tuple[Scalar, ...]
    duration: Duration | None
    column: int


@dataclass(frozen=True, slots=True)
class Not:
    """`NOT c`."""

    item: Condition


@dataclass(frozen=True, slots=True)
class And:
    """`a AND b AND ...`."""

    items: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """`a OR b OR ...`."""

    items: tuple[Condition, ...]


Condition = Comparison | Not | And | Or
Node = Condition | Scalar
