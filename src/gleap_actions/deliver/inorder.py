"""Per-user order in flight: planned requests that share a user are sent one after another.

A claim hands out each user's deliveries in event order (`Store.claim_deliveries`), and the planned
requests keep that order. Requests without a user in common go out concurrently; those linked by a user
form a chain, sent in order, where a request whose earlier request for one of its users did not settle
(it is to be retried, or was given back) is given back unsent: a later event never overtakes an earlier
one still retrying. Dead-lettering settles a request, so the rest of the chain goes on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from gleap_actions.deliver.batch import Work

T = TypeVar("T")


def chains(works: Sequence[Work]) -> list[list[int]]:
    """The positions of `works` grouped into chains: works that share a user (directly or through
    others) are in one chain, in their order."""
    parent = list(range(len(works)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for position, work in enumerate(works):
        for user in work.users:
            first = owner.setdefault(user, position)
            parent[root(position)] = root(first)
    grouped: dict[int, list[int]] = {}
    for position in range(len(works)):
        grouped.setdefault(root(position), []).append(position)
    return list(grouped.values())


async def send_chain(
    items: Sequence[tuple[T, Work]],
    send: Callable[[T, Work], Awaitable[bool]],
    give_back: Callable[[Work], Awaitable[None]],
) -> bool:
    """Send a chain's `(request, work)` items in order with `send` (True: settled, delivered or
    dead-lettered); an item sharing a user with an unsettled earlier one is given back unsent. Returns
    whether every item settled."""
    waiting: set[str] = set()  # users whose earlier request did not settle
    settled = True
    for request, work in items:
        users = work.users
        if users & waiting:
            await give_back(work)
            waiting |= users
            settled = False
        elif not await send(request, work):
            waiting |= users
            settled = False
    return settled
