"""Erasing a deleted user from what other events' records still hold of them (backend-neutral).

Deleting a user deletes their stored events with their deliveries and dead letters (`Store.drop_user`).
Other users' records can still hold the deleted user's data: a dead letter of a batch request keeps the
whole batch (every user's entries) and Gleap's answer, and a retry's last error may quote it. `Erasure`
masks those:
- in JSON, every object whose `userId` is the user's (a batch entry: name, data, traits, email...)
  is replaced by `{"erased": true}`;
- then, in any text, the user's identifying strings (`userId`, `anonymousId`s and e-mail addresses seen
  in their events) are replaced by `[erased]`, raw and in their JSON-escaped form.
Each store reads the user's events, deletes them, then rewrites the other records that `mentions` finds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, LiteralString

import orjson

ERASED = "[erased]"
_ENTRY = {"erased": True}
_ID_KEYS = ("userId", "user_id")

Row = tuple[Any, ...]
# The other records that may quote a user, as (read, rewrite) queries: text columns, then the row's id.
# Placeholders are `%s` (SQLite callers use `sqlite_placeholders`).
_RECORDS: tuple[tuple[LiteralString, LiteralString], ...] = (
    (
        "SELECT id, request, response FROM dead_letters",
        "UPDATE dead_letters SET request = %s, response = %s WHERE id = %s",
    ),
    (
        "SELECT id, last_error FROM deliveries WHERE last_error IS NOT NULL",
        "UPDATE deliveries SET last_error = %s WHERE id = %s",
    ),
)


def _emails(event: dict[str, Any]) -> Iterable[object]:
    context = event.get("context")
    for holder in (event.get("traits"), event.get("properties"), context and context.get("traits")):
        if isinstance(holder, dict):
            yield holder.get("email")


@dataclass(frozen=True, slots=True)
class Erasure:
    """What to mask of one deleted user in other records."""

    user_id: str
    needles: tuple[str, ...]  # identifying strings, longest first, each raw and JSON-escaped

    @classmethod
    def of(cls, user_id: str, payloads: Iterable[bytes]) -> Erasure:
        """The erasure of `user_id`, whose stored events (JSON payloads) are `payloads`."""
        values = {user_id}
        for payload in payloads:
            try:
                event = orjson.loads(payload)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(event, dict):
                continue
            for value in (event.get("anonymousId"), *_emails(event)):
                if isinstance(value, str) and value:
                    values.add(value)
        needles = {form for value in values for form in (value, orjson.dumps(value).decode()[1:-1])}
        return cls(user_id, tuple(sorted(needles, key=len, reverse=True)))

    def mentions(self, text: object) -> bool:
        """Whether `text` holds any of the user's identifying strings."""
        return isinstance(text, str) and any(needle in text for needle in self.needles)

    def erase_records(
        self,
        select: Callable[[LiteralString], Sequence[Row]],
        update: Callable[[LiteralString, list[Row]], object],
    ) -> int:
        """Mask the user in the other records (dead letters, retry errors), through the store's own
        `select(sql)` and `update(sql, rows)`; returns how many records were rewritten. Runs in the
        transaction that deleted the user's events. Reads every such record: deletions are rare."""
        rewritten = 0
        for read, rewrite in _RECORDS:
            rows = [
                (*(self.mask(text) if self.mentions(text) else text for text in row[1:]), row[0])
                for row in select(read)
                if any(self.mentions(text) for text in row[1:])
            ]
            if rows:
                update(rewrite, rows)
                rewritten += len(rows)
        return rewritten

    def mask(self, text: str) -> str:
        """`text` with the user's entries and identifying strings masked (see the module docstring)."""
        try:
            document = orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
        else:
            text = orjson.dumps(self._mask_entries(document)).decode()
        for needle in self.needles:
            text = text.replace(needle, ERASED)
        return text

    def _mask_entries(self, value: Any) -> Any:
        if isinstance(value, dict):
            if any(value.get(key) == self.user_id for key in _ID_KEYS):
                return _ENTRY
            return {key: self._mask_entries(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._mask_entries(item) for item in value]
        if isinstance(value, str) and value[:1] in ("{", "["):  # JSON inside a string: a response body
            try:
                inner = orjson.loads(value)
            except orjson.JSONDecodeError:
                return value
            return orjson.dumps(self._mask_entries(inner)).decode()
        return value


def sqlite_placeholders(sql: str) -> str:
    """A `%s` query of this module in SQLite's `?` style."""
    return sql.replace("%s", "?")
