"""The mapping-kit: Segment mapping directives, compiled once into callables.

`compile_mapping(m)` validates a mapping (every problem at once, `MappingValidationError`) and
compiles it; the `CompiledMapping` it returns resolves events with Segment's semantics.
"""

from gleap_actions.engine.jsvalues import MISSING
from gleap_actions.engine.mapping.compile import CompiledMapping, compile_mapping, transform, validate_mapping

__all__ = ["MISSING", "CompiledMapping", "compile_mapping", "transform", "validate_mapping"]
