"""Public API of the mapping engine (Segment's mapping-kit).

    >>> from gleap_actions.mapping import compile_mapping
    >>> mapping = compile_mapping({"userId": {"@path": "$.userId"}, "plan": {"@path": "$.traits.plan"}})
    >>> mapping({"userId": "u1", "traits": {}})
    {'userId': 'u1'}

`transform(m, event)` does the same in one call; `validate_mapping(m)` only validates. Errors are
`MappingValidationError` (every problem, `.errors`) and `MappingRuntimeError`.
"""

from gleap_actions.engine.errors import MappingRuntimeError, MappingValidationError
from gleap_actions.engine.mapping import (
    MISSING,
    CompiledMapping,
    compile_mapping,
    transform,
    validate_mapping,
)

__all__ = [
    "MISSING",
    "CompiledMapping",
    "MappingRuntimeError",
    "MappingValidationError",
    "compile_mapping",
    "transform",
    "validate_mapping",
]
