"""Compiled triggers: `parse(text)` once at config load, then call the trigger on every event."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from gleap_actions.engine.fql.compiler import compile_tree
from gleap_actions.engine.fql.nodes import Node
from gleap_actions.engine.fql.parser import parse_tree

CACHE_SIZE = 1024


class Trigger:
    """A compiled FQL trigger: `trigger(event) -> bool`. `.text` is the source, `.tree` its syntax tree."""

    __slots__ = ("_predicate", "text", "tree")

    def __init__(self, text: str, tree: Node) -> None:
        self.text = text
        self.tree = tree
        self._predicate = compile_tree(tree)

    def __call__(self, event: Any) -> bool:
        """Whether the event matches. Anything but a JSON object (dict) matches nothing; never raises."""
        return isinstance(event, dict) and self._predicate(event)

    def __repr__(self) -> str:
        return f"Trigger({self.text!r})"

    def __reduce__(self) -> tuple[Callable[[str], Trigger], tuple[str]]:
        # Closures do not pickle; the text recompiles to the same trigger (e.g. in a worker process).
        return (parse, (self.text,))


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
