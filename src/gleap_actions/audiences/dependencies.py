"""Definitions that read other definitions: `trait('<key>')` of another audience or computed trait.

Segment lets an audience use another audience's key as a trait and refuses a definition that would make a
cycle. The graph here maps each key to the keys its definition reads.
"""

from __future__ import annotations

from collections.abc import Mapping

from gleap_actions.audiences.definition import Definition


def graph(definitions: Mapping[str, Definition]) -> dict[str, list[str]]:
    """Each key -> the other configured keys its definition reads as traits (sorted)."""
    return {key: sorted(d.references.traits & definitions.keys()) for key, d in definitions.items()}


def find_cycle(edges: Mapping[str, list[str]]) -> list[str] | None:
    """A cycle as keys from its first key back to it (`['a', 'b', 'a']`), or None."""
    done: set[str] = set()
    for start in edges:
        path: list[str] = []
        on_path: set[str] = set()
        stack: list[tuple[str, int]] = [(start, 0)]
        while stack:
            key, index = stack.pop()
            if index == 0:
                if key in on_path:
                    return [*path[path.index(key) :], key]
                if key in done:
                    continue
                path.append(key)
                on_path.add(key)
            following = edges.get(key, [])
            if index < len(following):
                stack.append((key, index + 1))
                stack.append((following[index], 0))
            else:
                done.add(key)
                on_path.discard(path.pop())
    return None


def evaluation_order(edges: Mapping[str, list[str]], key: str) -> list[str]:
    """The keys `key` reads, directly or not, each after the ones it reads. A cycle (which config
    validation refuses) raises ValueError naming it, not RecursionError."""
    order: list[str] = []
    path: list[str] = []

    def visit(current: str) -> None:
        path.append(current)
        for dependency in edges.get(current, []):
            if dependency in path:
                cycle = [*path[path.index(dependency) :], dependency]
                raise ValueError(f"definitions read each other in a cycle: {' -> '.join(cycle)}")
            if dependency not in order:
                visit(dependency)
                order.append(dependency)
        path.pop()

    visit(key)
    return order
