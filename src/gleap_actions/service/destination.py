"""The queue remembers where its work was meant to go: a backlog never goes somewhere else by accident.

At start, a delivering node compares the destination recorded in the store with its own (Gleap's base URL
and a fingerprint of the token, or the built-in sandbox). Work still pending for another destination
stops the start with a message saying what is pending, how to deliver it and how to discard it; the
`--backlog` choice of `serve` decides on purpose instead. With several destinations the check is per
destination (`claim_queues`): the store records each destination's fingerprint, by name.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Literal

import orjson

from gleap_actions.config.topology import DEFAULT, DestinationConfig
from gleap_actions.deliver import discard
from gleap_actions.queue.owners import owner_name
from gleap_actions.queue.store import Store
from gleap_actions.route import split_key

SANDBOX_DESTINATION = "the built-in Gleap sandbox"
Backlog = Literal["refuse", "deliver", "discard"]


class OtherDestinationError(RuntimeError):
    """The queue holds work accepted for another destination."""


def claim_queue(store: Store, destination: str, backlog: Backlog, where: str) -> int:
    """Record `destination` for the queue at `where`; returns how many pending items were discarded.

    Raises OtherDestinationError when pending work was accepted for another destination and `backlog`
    is "refuse"; "deliver" sends that work to `destination`, "discard" drops it (dead letters stay).
    """
    recorded = store.destination()
    if recorded is None or recorded == destination:
        store.set_destination(destination)
        return 0
    stats = store.stats(time.time())
    pending = stats.unrouted + stats.pending + stats.in_flight
    if pending and backlog == "refuse":
        raise OtherDestinationError(
            f"The queue at {where} holds {pending} undelivered item(s) accepted for {recorded}, "
            f"but this run would deliver to {destination}.\n"
            f"  To deliver them where they were meant to go, start with the Gleap settings of {recorded} "
            "(GLEAP_API_TOKEN / GLEAP_BASE_URL or the config's gleap section).\n"
            "  To deliver them to this destination on purpose (a rotated token), add --backlog deliver.\n"
            "  To discard them on purpose (dead letters are kept), add --backlog discard."
        )
    return store.set_destination(destination, discard_pending=backlog == "discard")


def fingerprint(destination: DestinationConfig) -> str:
    """The recorded destination of one configured destination (`GleapSettings.destination`)."""
    return SANDBOX_DESTINATION if destination.uses_sandbox else destination.gleap.destination


def recorded_value(destinations: Sequence[DestinationConfig]) -> str:
    """What the queue records for `destinations`: the single destination `default`'s fingerprint alone
    (as before there were several), else a JSON object of each destination's, by name."""
    if len(destinations) == 1 and destinations[0].name == DEFAULT:
        return fingerprint(destinations[0])
    return orjson.dumps({d.name: fingerprint(d) for d in destinations}, option=orjson.OPT_SORT_KEYS).decode()


def _recorded(value: str | None) -> dict[str, str]:
    if value is None:
        return {}
    if value.startswith("{"):
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            return {str(k): str(v) for k, v in parsed.items()}
    return {DEFAULT: value}


def claim_queues(
    store: Store, destinations: Sequence[DestinationConfig], backlog: Backlog, where: str
) -> int:
    """`claim_queue` per destination: work pending for a destination whose Gleap settings changed since
    it was queued is refused, delivered or discarded as `backlog` says, without holding back the other
    destinations' work. The single-destination form behaves exactly as `claim_queue`. Returns how many
    pending items were discarded (with several destinations: moved to the dead letters, reason
    `unconfigured`, from where `dlq replay` or `dlq purge` decides)."""
    if len(destinations) == 1 and destinations[0].name == DEFAULT:
        return claim_queue(store, fingerprint(destinations[0]), backlog, where)
    previous = _recorded(store.destination())
    names = [d.name for d in destinations]
    changed = [d for d in destinations if d.name in previous and previous[d.name] != fingerprint(d)]
    discarded = 0
    if changed:
        stats = store.stats(time.time())
        for destination in changed:
            keys = {
                key: counts["pending"] + counts["in_flight"]
                for key, counts in stats.per_mapping.items()
                if split_key(key, names)[0] == destination.name and counts["pending"] + counts["in_flight"]
            }
            pending = sum(keys.values())
            if pending and backlog == "refuse":
                raise OtherDestinationError(
                    f"The queue at {where} holds {pending} undelivered item(s) of destination "
                    f"{destination.name!r} accepted for {previous[destination.name]}, but this run would "
                    f"deliver them to {fingerprint(destination)}.\n"
                    "  To deliver them where they were meant to go, start with that destination's former "
                    "Gleap settings.\n"
                    "  To deliver them to this destination on purpose (a rotated token), add "
                    "--backlog deliver.\n"
                    "  To discard them on purpose (into the dead letters), add --backlog discard."
                )
            if pending and backlog == "discard":
                discarded += sum(discard.discard(store, key, owner=owner_name()) for key in keys)
    store.set_destination(recorded_value(destinations))
    return discarded
