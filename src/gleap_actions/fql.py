"""Public API of Segment's trigger language (FQL subscriptions).

    >>> from gleap_actions import fql
    >>> trigger = fql.parse('type = "track" and properties.total > 100')
    >>> trigger({"type": "track", "properties": {"total": 150}})
    True
    >>> fql.matches('event = "Signed Up"', {"type": "track", "event": "Signed Up"})
    True

A malformed trigger raises `FqlSyntaxError` with the column and what was expected there.
"""

from gleap_actions.engine.fql import FqlSyntaxError, Trigger, matches, parse

__all__ = ["FqlSyntaxError", "Trigger", "matches", "parse"]
