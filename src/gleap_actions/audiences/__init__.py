"""Audiences and computed traits in Segment's query language.

    >>> from datetime import UTC, datetime
    >>> from gleap_actions.audiences import compile_definition
    >>> buyers = compile_definition("event('Order Completed').within(7 days).count() >= 1")
    >>> events = [{"type": "track", "event": "Order Completed", "userId": "u1",
    ...            "timestamp": "2024-05-01T10:00:00Z"}]
    >>> buyers.evaluate(events, datetime(2024, 5, 3, tzinfo=UTC))
    True
    >>> buyers.next_change(events, datetime(2024, 5, 3, tzinfo=UTC))
    datetime.datetime(2024, 5, 8, 10, 0, tzinfo=datetime.timezone.utc)

A malformed definition raises `QuerySyntaxError` with the column and what was expected there.
"""

from __future__ import annotations

from gleap_actions.audiences.analysis import References
from gleap_actions.audiences.definition import KINDS, Definition, Kind
from gleap_actions.audiences.errors import QuerySyntaxError
from gleap_actions.audiences.profile import Profile

__all__ = ["KINDS", "Definition", "Kind", "Profile", "QuerySyntaxError", "References", "compile_definition"]


def compile_definition(
    text: str, *, kind: Kind = "audience", include_anonymous_users: bool = False
) -> Definition:
    """Parse, type-check and compile `text`: an audience (ends in a comparison) or a computed trait (ends in
    a value). Raises `QuerySyntaxError` (with `.column`, 1-based) when it is malformed."""
    return Definition(text, kind, include_anonymous_users)
