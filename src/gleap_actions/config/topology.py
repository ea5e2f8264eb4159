"""`sources:` and `destinations:`: which write keys feed which Gleap projects.

A source is a set of write keys; each feeds one or more destinations. A destination is one Gleap project:
its settings (the token from the environment, `${VAR}`), its mappings (at most 50, names unique within it)
and its delivery settings (batching, rate, retries). The single-destination form of the file (top-level
`gleap:` and `mappings:`) is one source, `default`, feeding one destination, `default`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gleap_actions.config.problems import Problems, describe, join
from gleap_actions.config.reader import Section
from gleap_actions.destinations.gleap.settings import GleapSettings
from gleap_actions.engine.subscription import Subscription

DEFAULT = "default"  # the name of the one source and destination of the single-destination form
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

ReadGleap = Callable[[Section], tuple[GleapSettings, bool]]
ReadMappings = Callable[[Any, str], tuple[Subscription, ...]]


@dataclass(frozen=True, repr=False)
class DestinationConfig:
    """One Gleap project. `delivery` is a `DeliveryConfig`; `uses_sandbox`: no token was configured."""

    name: str
    gleap: GleapSettings
    subscriptions: tuple[Subscription, ...]
    delivery: Any
    uses_sandbox: bool = False

    def __repr__(self) -> str:
        names = tuple(s.name for s in self.subscriptions)
        return f"DestinationConfig(name={self.name!r}, mappings={names!r}, uses_sandbox={self.uses_sandbox})"


@dataclass(frozen=True, repr=False)
class SourceConfig:
    """Write keys (secrets, never shown) and the destinations their events go to."""

    name: str
    write_keys: tuple[str, ...] = field(default=())
    destinations: tuple[str, ...] = (DEFAULT,)

    def __repr__(self) -> str:
        keys = f"<{len(self.write_keys)} write keys>"
        return f"SourceConfig(name={self.name!r}, {keys}, destinations={self.destinations!r})"


def read_name(section: Section, what: str, seen: dict[str, str]) -> str | None:
    """The entry's `name`: required, a plain word (it labels metrics and delivery keys), unique."""
    name = section.string("name", None)
    if name is None:
        section.problems.add(section.at("name"), f"required: a unique name for this {what}")
        return None
    if not _NAME.fullmatch(name):
        section.problems.add(
            section.at("name"),
            f"expected letters, digits, '_', '-' or '.' (at most 64, no '/'), got {describe(name)}",
        )
        return None
    if name in seen:
        section.problems.add(section.at("name"), f"duplicate {what} name {name!r} (also {seen[name]})")
        return None
    seen[name] = section.at("name")
    return name


def read_destinations(
    value: Any,
    location: str,
    problems: Problems,
    *,
    read_gleap: ReadGleap,
    read_delivery: Callable[[Section], Any],
    read_mappings: ReadMappings,
) -> tuple[DestinationConfig, ...]:
    """The `destinations:` list: each entry with `name`, `gleap`, `delivery` and `mappings`."""
    if not isinstance(value, list) or not value:
        problems.add(location, f"expected a non-empty list of destinations, got {describe(value)}")
        return ()
    seen: dict[str, str] = {}
    destinations: list[DestinationConfig] = []
    for index, entry in enumerate(value):
        section = Section(entry, join(location, index), problems)
        name = read_name(section, "destination", seen)
        gleap, uses_sandbox = read_gleap(section.section("gleap"))
        delivery = read_delivery(section.section("delivery"))
        mappings = section.raw("mappings")
        subscriptions = read_mappings(mappings, section.at("mappings"))
        section.finish()
        if name is not None:
            destinations.append(DestinationConfig(name, gleap, subscriptions, delivery, uses_sandbox))
    return tuple(destinations)


def read_sources(
    value: Any, location: str, problems: Problems, destinations: tuple[str, ...]
) -> tuple[SourceConfig, ...]:
    """The `sources:` list: each entry with `name`, `write_keys` (unique across sources) and
    `destinations` (names from `destinations:`; omitted: all of them)."""
    if not isinstance(value, list) or not value:
        problems.add(location, f"expected a non-empty list of sources, got {describe(value)}")
        return ()
    seen: dict[str, str] = {}
    key_owner: dict[str, str] = {}
    sources: list[SourceConfig] = []
    for index, entry in enumerate(value):
        section = Section(entry, join(location, index), problems)
        name = read_name(section, "source", seen)
        keys = section.string_list("write_keys", secret=True)
        if not keys:
            problems.add(section.at("write_keys"), "required: at least one write key (set, not empty)")
        for key in keys:
            if key in key_owner:
                problems.add(
                    section.at("write_keys"),
                    f"a write key also listed by source {key_owner[key]!r} (keys are unique across sources)",
                )
            key_owner.setdefault(key, name or "?")
        targets = section.string_list("destinations") or destinations
        for target in targets:
            if target not in destinations:
                known = ", ".join(destinations)
                problems.add(
                    section.at("destinations"), f"unknown destination {target!r} (configured: {known})"
                )
        section.finish()
        if name is not None:
            sources.append(SourceConfig(name, keys, tuple(dict.fromkeys(targets))))
    return tuple(sources)
