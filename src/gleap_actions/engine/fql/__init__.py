"""The FQL trigger language: lexer, parser and compiled matchers.

`parse(text)` turns a Segment subscription trigger (`type = "track" and properties.total > 100`) into a
`Trigger`, a compiled predicate over events; `matches(text, event)` caches compiled triggers.
"""

from gleap_actions.engine.errors import FqlSyntaxError
from gleap_actions.engine.fql.trigger import Trigger, matches, parse

__all__ = ["FqlSyntaxError", "Trigger", "matches", "parse"]
