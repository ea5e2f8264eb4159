"""The one error a definition can raise at compile time: where (1-based column) and what was expected."""

from __future__ import annotations

from gleap_actions.engine.errors import ActionsError


class QuerySyntaxError(ActionsError, ValueError):
    """A definition is malformed or ill-typed. `column` is 1-based; `reason` says what was expected there."""

    def __init__(self, reason: str, *, text: str, column: int) -> None:
        self.text = text
        self.column = column
        self.reason = reason
        super().__init__(f"column {column}: {reason}")
