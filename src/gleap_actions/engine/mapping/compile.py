"""Compiling a validated mapping into closures, and the public entry points.

`compile_mapping` validates once and turns every node of the mapping into a function
`payload -> value`; resolving an event then runs those functions and nothing else (no validation,
no dispatch on the mapping's structure).

Each node is compiled in a context saying whether its result is *final* (lands in the output, so
undefined object keys must be dropped and undefined array elements become null) or *raw* (an
argument of `@merge`, `@flatten`, `@transform` or `@arrayPath`, which observe undefined values the
way Segment's JavaScript does). Final nodes build clean values directly, so the usual mapping needs
no clean-up pass after resolution.
"""

from __future__ import annotations

from typing import Any

from gleap_actions.engine.errors import MappingRuntimeError, MappingValidationError
from gleap_actions.engine.jsvalues import MISSING, real_type
from gleap_actions.engine.mapping.directives import DIRECTIVE_COMPILERS, Ctx, Resolver
from gleap_actions.engine.mapping.root import expand_root
from gleap_actions.engine.mapping.validate import kind, mapping_errors
from gleap_actions.engine.mapping.values import copy_json


def _directive_name(node: dict[str, Any]) -> str:
    return next(key for key in node if key.startswith("@"))


def _has_directive(node: Any) -> bool:
    if isinstance(node, dict):
        return kind(node) == "directive" or any(_has_directive(item) for item in node.values())
    if isinstance(node, list):
        return any(_has_directive(item) for item in node)
    return False


def _constant(value: Any) -> Resolver:
    if isinstance(value, dict | list):
        frozen = copy_json(value)  # later changes to the caller's mapping do not leak in
        return lambda payload: copy_json(frozen)
    return lambda payload: value


def compile_node(node: Any, ctx: Ctx) -> Resolver:
    """The resolver of one (validated) mapping node."""
    if isinstance(node, dict):
        if kind(node) == "directive":
            name = _directive_name(node)
            return DIRECTIVE_COMPILERS[name](node[name], ctx, compile_node)
        if not _has_directive(node):
            return _constant(node)
        return _compile_object(tuple((key, compile_node(item, ctx)) for key, item in node.items()), ctx)
    if isinstance(node, list):
        if not _has_directive(node):
            return _constant(node)
        return _compile_list(tuple(compile_node(item, ctx) for item in node), ctx)
    return _constant(node)


def _compile_object(items: tuple[tuple[str, Resolver], ...], ctx: Ctx) -> Resolver:
    if ctx.final:

        def resolve_object(payload: Any) -> dict[str, Any]:
            out = {}
            for key, resolve in items:
                value = resolve(payload)
                if value is not MISSING:
                    out[key] = value
            return out

        return resolve_object

    def resolve_raw_object(payload: Any) -> dict[str, Any]:
        return {key: resolve(payload) for key, resolve in items}

    return resolve_raw_object


def _compile_list(items: tuple[Resolver, ...], ctx: Ctx) -> Resolver:
    if ctx.final:

        def resolve_list(payload: Any) -> list[Any]:
            return [None if (value := resolve(payload)) is MISSING else value for resolve in items]

        return resolve_list

    def resolve_raw_list(payload: Any) -> list[Any]:
        return [resolve(payload) for resolve in items]

    return resolve_raw_list


class CompiledMapping:
    """A validated mapping compiled into closures. Call it with an event (a dict).

    The result has every key that resolved to "missing" removed (JSON null stays None; missing
    array elements become None). A root directive that resolves to missing returns `MISSING`.
    """

    __slots__ = ("_resolve", "mapping")

    def __init__(self, mapping: Any, resolve: Resolver) -> None:
        self.mapping = mapping
        self._resolve = resolve

    def __call__(self, event: dict[str, Any]) -> Any:
        """Resolve the mapping against one event; raises MappingRuntimeError."""
        if not isinstance(event, dict):
            raise MappingRuntimeError(f"data must be an object, got {real_type(event)}")
        try:
            return self._resolve(event)
        except RecursionError:
            raise MappingRuntimeError("the event or the mapping is nested too deeply") from None

    def transform_batch(self, events: list[dict[str, Any]]) -> list[Any]:
        """Resolve the mapping against each event of a list, in order."""
        if not isinstance(events, list):
            raise MappingRuntimeError(f"data must be an array, got {real_type(events)}")
        resolve = self._resolve
        results = []
        try:
            for event in events:
                if not isinstance(event, dict):
                    raise MappingRuntimeError(f"data must be an object, got {real_type(event)}")
                results.append(resolve(event))
        except RecursionError:
            raise MappingRuntimeError("the event or the mapping is nested too deeply") from None
        return results


def validate_mapping(mapping: Any) -> None:
    """Raise MappingValidationError listing every problem of `mapping`; return None if it is valid."""
    errors = mapping_errors(mapping)
    if errors:
        raise MappingValidationError(errors)


def compile_mapping(mapping: Any) -> CompiledMapping:
    """Validate `mapping` once (MappingValidationError) and compile it for fast, repeated use."""
    validate_mapping(mapping)
    try:
        resolve = compile_node(expand_root(mapping), Ctx())
    except RecursionError:
        raise MappingValidationError(["/ is nested too deeply."]) from None
    return CompiledMapping(mapping, resolve)


def transform(mapping: Any, event: dict[str, Any]) -> Any:
    """Validate, compile and resolve `mapping` against one event (compile once to reuse it)."""
    return compile_mapping(mapping)(event)
