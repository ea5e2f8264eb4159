"""Which dead letters a request means: by destination, mapping, reason and HTTP status.

Shared by the admin API, the `dlq` command and the console, so the three choose alike. A mapping is named
within its destination when a destination is given; alone, it is a delivery key (`route.delivery_key`:
the mapping's name for the destination `default`, `destination/mapping` otherwise), as before there were
several destinations.
"""

from __future__ import annotations

from collections.abc import Mapping

from gleap_actions.queue.store import DeadLetterFilter
from gleap_actions.route import delivery_key

FIELDS = ("destination", "mapping", "reason", "status")


def dead_letter_filter(
    destination: str | None = None,
    mapping: str | None = None,
    reason: str | None = None,
    status: int | None = None,
) -> DeadLetterFilter:
    """The filter choosing the dead letters of `destination`, `mapping`, `reason` and `status` (None: any)."""
    key = delivery_key(destination, mapping) if destination is not None and mapping is not None else mapping
    return DeadLetterFilter(destination, key, reason, status)


def parse_filter(values: Mapping[str, object]) -> DeadLetterFilter:
    """The filter of a query string or JSON body (`FIELDS`; empty strings mean any). Raises ValueError
    saying which value is wrong."""
    texts: dict[str, str | None] = {}
    for name in FIELDS:
        value = values.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and name == "status":
            value = str(value)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name} must be a string")
        texts[name] = value or None
    status = texts["status"]
    if status is not None and not (status.isdigit() and 100 <= int(status) <= 599):
        raise ValueError(f"status must be an HTTP status code (100-599), got {status!r}")
    return dead_letter_filter(
        texts["destination"], texts["mapping"], texts["reason"], None if status is None else int(status)
    )
