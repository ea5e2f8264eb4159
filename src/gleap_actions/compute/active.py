"""The enabled computations, and what follows from them at config load: referenced event names with how long
each is kept, which keys an event or a trait change makes due, and the order keys are evaluated in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from gleap_actions.audiences.dependencies import evaluation_order, graph
from gleap_actions.config.audiences import Computation


@dataclass(frozen=True)
class Active:
    """The enabled computations, by key, in evaluation order (a key after the keys it reads)."""

    computations: dict[str, Computation]
    order: tuple[str, ...]
    horizons: dict[str, timedelta | None]  # event name -> how far back it is kept (None: all of it)
    by_event: dict[str, frozenset[str]] = field(default_factory=dict)  # event name -> keys reading it
    trait_readers: frozenset[str] = frozenset()  # keys reading a trait (re-evaluated on identify)
    readers: dict[str, frozenset[str]] = field(default_factory=dict)  # key -> keys reading it as a trait

    @classmethod
    def of(cls, computations: Sequence[Computation]) -> Active:
        """The enabled ones of `computations`."""
        enabled = {c.key: c for c in computations if c.enabled}
        edges = graph({key: c.definition for key, c in enabled.items()})
        order: list[str] = []
        for key in sorted(enabled):
            for dependency in [*evaluation_order(edges, key), key]:
                if dependency not in order:
                    order.append(dependency)
        horizons: dict[str, timedelta | None] = {}
        by_event: dict[str, set[str]] = {}
        for key, computation in enabled.items():
            for name, bound in computation.definition.history.items():
                known = horizons.get(name, timedelta(0))
                horizons[name] = None if bound is None or known is None else max(bound, known)
                by_event.setdefault(name, set()).add(key)
        readers: dict[str, set[str]] = {}
        for key, dependencies in edges.items():
            for dependency in dependencies:
                readers.setdefault(dependency, set()).add(key)
        return cls(
            computations=enabled,
            order=tuple(order),
            horizons=horizons,
            by_event={name: frozenset(keys) for name, keys in by_event.items()},
            trait_readers=frozenset(k for k, c in enabled.items() if c.definition.references.traits),
            readers={key: frozenset(keys) for key, keys in readers.items()},
        )
