"""What a definition needs from the profile store, worked out from its tree at compile time.

`references`: the event names, call types and traits it reads, so that an incoming event re-evaluates only
the definitions it can change. `history`: per event name, how far back events can still matter (None:
without limit), so that the store keeps only those.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from gleap_actions.audiences.nodes import (
    And,
    Comparison,
    EventChain,
    Node,
    Not,
    Or,
    Reduce,
    TraitRef,
    Where,
    Window,
)
from gleap_actions.audiences.profile import PAGE_EVENT, SCREEN_EVENT


@dataclass(frozen=True, slots=True)
class References:
    """The event names, call types (track, page, screen, identify) and top-level traits a definition reads."""

    events: frozenset[str]
    call_types: frozenset[str]
    traits: frozenset[str]


def analyse(node: Node) -> tuple[References, dict[str, timedelta | None]]:
    """The references of `node` and the history it needs per event name."""
    walker = _Walker()
    walker.walk(node, nested=False, anchor=None)
    call_types = set()
    for name in walker.history:
        call_types.add("track")  # a track call may carry any name, `Page Viewed` too
        if name == PAGE_EVENT:
            call_types.add("page")
        if name == SCREEN_EVENT:
            call_types.add("screen")
    if walker.traits:
        call_types.add("identify")
    history = {
        name: None if micros is None else timedelta(microseconds=micros)
        for name, micros in walker.history.items()
    }
    return References(frozenset(walker.history), frozenset(call_types), frozenset(walker.traits)), history


class _Walker:
    def __init__(self) -> None:
        self.history: dict[str, int | None] = {}
        self.traits: set[str] = set()

    def walk(self, node: Node, *, nested: bool, anchor: int | None) -> None:
        """`nested`: inside a chain's where(); `anchor`: that chain's history bound (None: unbounded)."""
        if isinstance(node, Not):
            self.walk(node.item, nested=nested, anchor=anchor)
        elif isinstance(node, And | Or):
            for item in node.items:
                self.walk(item, nested=nested, anchor=anchor)
        elif isinstance(node, Comparison):
            self.walk(node.operand, nested=nested, anchor=anchor)
            for argument in node.arguments:
                self.walk(argument, nested=nested, anchor=anchor)
        elif isinstance(node, TraitRef):
            self.traits.add(node.path[0])
        elif isinstance(node, Reduce):
            self.chain(node.chain, nested=nested, anchor=anchor)

    def chain(self, chain: EventChain, *, nested: bool, anchor: int | None) -> None:
        ends = [f.end for f in chain.filters if isinstance(f, Window) and not f.parent]
        relative = any(isinstance(f, Window) and f.parent for f in chain.filters)
        bound: int | None
        if ends:
            bound = min(ends)  # windows in one chain intersect
        elif relative and nested:
            bound = anchor  # events after their parent, so within the parent's own bound
        else:
            bound = None
        if chain.name in self.history:
            known = self.history[chain.name]
            bound = None if known is None or bound is None else max(known, bound)
        self.history[chain.name] = bound
        for step in chain.filters:
            if isinstance(step, Where):
                self.walk(step.condition, nested=True, anchor=bound)
