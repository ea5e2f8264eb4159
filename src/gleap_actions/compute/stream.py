"""The queue's stored events as the compute stage reads them: each resolved to its profile."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import orjson

from gleap_actions.compute.evaluate import event_ids
from gleap_actions.compute.identify import is_engage
from gleap_actions.queue.profiles import ProfileTx


def profiled(
    tx: ProfileTx, rows: Sequence[tuple[int, bytes]]
) -> Iterator[tuple[bytes, dict[str, Any], int, bool]]:
    """(payload, event, profile id, whether identities were joined) of each row with an identity.

    Unreadable rows and the stage's own Engage identify calls are passed over: they say nothing of a user.
    """
    for _, payload in rows:
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(event, dict) or is_engage(event):
            continue
        user_id, anonymous = event_ids(event)
        if user_id is None and not anonymous:
            continue
        profile, changed = tx.resolve(user_id, anonymous)
        yield payload, event, profile, changed
