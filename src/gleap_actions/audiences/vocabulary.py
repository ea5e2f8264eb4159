"""The words of the query language: filters, reducers, comparators (with their older names and symbols),
and how names in `trait()`, `property()` and `context()` split into paths."""

from __future__ import annotations

FILTERS = ("where", "within", "between", "sources", "expires_after")
REDUCERS = ("count", "sum", "avg", "min", "max", "mode", "first", "last", "unique")
# Comparator name -> its arguments: none, one value, one or more values, or a duration.
COMPARATORS = {
    **dict.fromkeys(("equals", "differs", "greater_than", "at_least", "less_than", "at_most"), "one"),
    **dict.fromkeys(("before_date", "after_date"), "one"),
    **dict.fromkeys(("absent", "exists"), "none"),
    **dict.fromkeys(("contains", "omits", "starts_with", "ends_with", "one_of", "none_of"), "many"),
    **dict.fromkeys(("within_last", "within_next", "before_last", "after_next"), "duration"),
}
# The names used before April 2024, still accepted.
OLD_COMPARATORS = {
    "eq": "equals",
    "neq": "differs",
    "gt": "greater_than",
    "gte": "at_least",
    "lt": "less_than",
    "lte": "at_most",
    "is_null": "absent",
    "is_set": "exists",
}
SYMBOLS = {
    "=": "equals",
    "==": "equals",
    "!=": "differs",
    ">": "greater_than",
    ">=": "at_least",
    "<": "less_than",
    "<=": "at_most",
}


def split_path(name: str) -> tuple[str, ...]:
    """`'a.b'` -> ('a', 'b'); `'a\\.b'` -> ('a.b',): a backslash keeps a dot inside a key."""
    parts: list[str] = []
    current: list[str] = []
    position = 0
    while position < len(name):
        char = name[position]
        if char == "\\" and position + 1 < len(name) and name[position + 1] == ".":
            current.append(".")
            position += 2
            continue
        if char == ".":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        position += 1
    parts.append("".join(current))
    return tuple(parts)
