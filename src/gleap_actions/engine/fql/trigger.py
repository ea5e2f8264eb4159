"""Compiled triggers: `parse(text)` once at config load, then call the trigger on every event."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from gleap_actions.engine.fql.compiler import compile_tree
from gleap_actions.engine.fql.nodes import Comparison, Node, Or
from gleap_actions.engine.fql.parser import parse_tree

CACHE_SIZE = 1024


class Trigger:
    """A compiled FQL trigger: `trigger(event) -> bool`. `.text` is the source, `.tree` its syntax tree.

    `.types` is set when the trigger only says which call types it selects (`type = "track" or type =
    "page"`): then an event whose `type` is a string matches exactly when that string is in `.types`, so
    events already sorted by type need no call. None for every other trigger.
    """

    __slots__ = ("_predicate", "text", "tree", "types")

    def __init__(self, text: str, tree: Node) -> None:
        self.text = text
        self.tree = tree
        self._predicate = compile_tree(tree)
        self.types = _selected_types(tree)

    def __call__(self, event: Any) -> bool:
        """Whether the event matches. Anything but a JSON object (dict) matches nothing; never raises."""
        return isinstance(event, dict) and self._predicate(event)

    def __repr__(self) -> str:
        return f"Trigger({self.text!r})"

    def __reduce__(self) -> tuple[Callable[[str], Trigger], tuple[str]]:
        # Closures do not pickle; the text recompiles to the same trigger (e.g. in a worker process).
        return (parse, (self.text,))


def _selected_types(tree: Node) -> frozenset[str] | None:
    """The strings `type` is compared with when `tree` is `type = "a"` or an `or` of such, else None."""
    children = tree.children if isinstance(tree, Or) else (tree,)
    types: set[str] = set()
    for child in children:
        if not (
            isinstance(child, Comparison)
            and child.path == ("type",)
            and child.operator == "="
            and isinstance(child.value, str)
        ):
            return None
        types.add(child.value)
    return frozenset(types)


def parse(text: str) -> Trigger:
    """Parses and compiles a trigger. Raises `FqlSyntaxError` (with `.column`) if it is malformed."""
    if not isinstance(text, str):
        raise TypeError(f"a trigger must be a string, not {type(text).__name__}")
    return Trigger(text, parse_tree(text))


@lru_cache(maxsize=CACHE_SIZE)
def _cached(text: str) -> Trigger:
    return parse(text)


def matches(text: str, event: Any) -> bool:
    """Whether `event` matches the trigger `text`; compiled triggers are cached (the last 1024 texts)."""
    return _cached(text)(event)
