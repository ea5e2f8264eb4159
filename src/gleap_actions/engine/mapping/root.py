"""The root directive `__segment_internal_directive` (Segment's `getMappingToProcess`).

`{__segment_internal_directive: {"@transform": {apply: ...}}, a: ..., b: ...}` becomes
`{"@transform": {apply: ..., mapping: {a: ..., b: ...}}}`: every other top-level key is gathered
into the directive's `mapping` argument.
"""

from __future__ import annotations

from typing import Any

ROOT_DIRECTIVE_KEY = "__segment_internal_directive"


class RootDirectiveError(ValueError):
    """The root directive is malformed; the message is Segment's."""


def expand_root(mapping: Any) -> Any:
    """The mapping to resolve: `mapping` itself unless it uses the root directive."""
    if not isinstance(mapping, dict) or ROOT_DIRECTIVE_KEY not in mapping:
        return mapping
    root = mapping[ROOT_DIRECTIVE_KEY]
    if not isinstance(root, dict) or len(root) > 1:
        raise RootDirectiveError("The root mapping must only have a single directive object")
    (name, argument), *_ = list(root.items()) or [(None, None)]
    if not isinstance(argument, dict):
        raise RootDirectiveError("The root directive must be an object")
    others = {key: value for key, value in mapping.items() if key != ROOT_DIRECTIVE_KEY}
    return {name: {**argument, "mapping": others}}
