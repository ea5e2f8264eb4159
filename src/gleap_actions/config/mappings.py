"""The `mappings` list: each entry checked and compiled into a `Subscription` (trigger and mapping at load).

The trigger and the mapping are checked separately first, so a config with both wrong reports both.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from gleap_actions import fql
from gleap_actions.config.problems import Problems, describe, join
from gleap_actions.config.reader import Section
from gleap_actions.engine.action import Action
from gleap_actions.engine.errors import ActionsError, FqlSyntaxError, MappingValidationError
from gleap_actions.engine.subscription import Subscription
from gleap_actions.mapping import validate_mapping

# Segment: "Individual destination instances have support a maximum of 50 mappings."
MAX_MAPPINGS = 50
# Segment's batches hold at most 1,000 events; Gleap documents no limit, so ours is capped the same way.
MAX_BATCH_SIZE = 1000
DEFAULT_BATCH_SIZE = 100
DEFAULT_BATCH_BYTES = 1_000_000
MAX_BATCH_BYTES = 4_000_000


def read_mappings(
    value: Any, location: str, problems: Problems, actions: Mapping[str, Action]
) -> tuple[Subscription, ...]:
    """Every valid entry of the `mappings` list at `location`, compiled; problems for the others."""
    if not isinstance(value, list):
        problems.add(location, f"expected a list of mappings, got {describe(value)}")
        return ()
    if len(value) > MAX_MAPPINGS:
        problems.add(
            location, f"at most {MAX_MAPPINGS} mappings are allowed (as in Segment), got {len(value)}"
        )
    subscriptions: list[Subscription] = []
    first_location: dict[str, str] = {}
    for index, entry in enumerate(value):
        entry_location = join(location, index)
        subscription = _read_entry(Section(entry, entry_location, problems), actions, first_location)
        if subscription is not None:
            subscriptions.append(subscription)
    return tuple(subscriptions)


def _read_entry(
    section: Section, actions: Mapping[str, Action], first_location: dict[str, str]
) -> Subscription | None:
    problems = section.problems
    errors_before = len(problems.items)
    name = section.string("name", None)
    if name is None:
        if len(problems.items) == errors_before:  # not already reported as a wrong type
            problems.add(section.at("name"), "required: a unique name for this mapping")
    elif name in first_location:
        problems.add(section.at("name"), f"duplicate mapping name {name!r} (also {first_location[name]})")
    else:
        first_location[name] = section.location
    action = _read_action(section, actions)
    trigger = section.string("trigger", action.default_trigger if action else None)
    if section.has("trigger") and trigger is None:
        problems.add(section.at("trigger"), "must not be empty")
    mapping = section.raw("mapping")
    if mapping is None and action is not None:
        mapping = action.default_mapping
    enabled = section.boolean("enabled", True)
    batching, batch_size, batch_bytes = _read_batching(section, action)
    coalesce = _read_coalesce(section, action)
    section.finish()

    if trigger is not None:
        try:
            fql.parse(trigger)
        except FqlSyntaxError as exc:
            problems.add(section.at("trigger"), str(exc))
    if mapping is not None:
        _check_mapping(mapping, section.at("mapping"), problems, action)
    if len(problems.items) > errors_before or name is None or action is None or trigger is None:
        return None
    try:
        return Subscription.compile(
            name,
            action,
            trigger,
            mapping,
            enabled=enabled,
            batching=batching,
            batch_size=batch_size,
            batch_bytes=batch_bytes,
            coalesce=coalesce,
        )
    except ActionsError as exc:
        problems.add(section.location, str(exc))
        return None


def _read_action(section: Section, actions: Mapping[str, Action]) -> Action | None:
    name = section.string("action", None)
    known = ", ".join(sorted(actions))
    if name is None:
        section.problems.add(section.at("action"), f"required: one of {known}")
        return None
    action = actions.get(name)
    if action is None:
        close = difflib.get_close_matches(name, sorted(actions), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        section.problems.add(section.at("action"), f"unknown action {name!r} ({hint}known actions: {known})")
    return action


def _check_mapping(mapping: Any, location: str, problems: Problems, action: Action | None) -> None:
    if not isinstance(mapping, dict):
        problems.add(location, f"expected a mapping of field names to values, got {describe(mapping)}")
        return
    if action is not None:
        fields = sorted(action.fields)
        for key in mapping:
            if key not in action.fields:
                close = difflib.get_close_matches(str(key), fields, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                problems.add(
                    f"{location}.{key}",
                    f"unknown field of {action.name} ({hint}its fields: {', '.join(fields)}; "
                    "docs/actions.md lists them)",
                )
    try:
        validate_mapping(mapping)
    except MappingValidationError as exc:
        for error in exc.errors:
            problems.add(location, error)


def _read_coalesce(section: Section, action: Action | None) -> bool | None:
    """`coalesce: true|false`: merge one user's waiting events into one request; on by default where
    the action can (identifyContact). None: the action's default."""
    if not section.has("coalesce"):
        return None
    can_merge = action is not None and action.perform_merged is not None
    coalesce = section.boolean("coalesce", can_merge)
    if coalesce and action is not None and not can_merge:
        section.problems.add(
            section.at("coalesce"), f"action {action.name!r} cannot coalesce (only identifyContact can)"
        )
        return False
    return coalesce


def _read_batching(section: Section, action: Action | None) -> tuple[bool, int, int]:
    """`batching: true|false` or `{enabled, size, bytes}`; on by default where the action can batch."""
    can_batch = action is not None and action.perform_batch is not None
    if isinstance(section.raw("batching"), bool | str):
        enabled = section.boolean("batching", can_batch)
        size, size_bytes = DEFAULT_BATCH_SIZE, DEFAULT_BATCH_BYTES
    else:
        batching = section.section("batching")
        enabled = batching.boolean("enabled", can_batch)
        size = batching.integer("size", DEFAULT_BATCH_SIZE, minimum=1, maximum=MAX_BATCH_SIZE)
        size_bytes = batching.integer("bytes", DEFAULT_BATCH_BYTES, minimum=1024, maximum=MAX_BATCH_BYTES)
        batching.finish()
    if enabled and action is not None and not can_batch:
        section.problems.add(section.at("batching"), f"action {action.name!r} does not support batching")
        enabled = False
    return enabled, size, size_bytes
