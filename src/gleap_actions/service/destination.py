"""The queue remembers where its work was meant to go: a backlog never goes somewhere else by accident.

At start, a delivering node compares the destination recorded in the store with its own (Gleap's base URL
and a fingerprint of the token, or the built-in sandbox). Work still pending for another destination
stops the start with a message saying what is pending, how to deliver it and how to discard it; the
`--backlog` choice of `serve` decides on purpose instead.
"""

from __future__ import annotations

import time
from typing import Literal

from gleap_actions.queue.store import Store

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
