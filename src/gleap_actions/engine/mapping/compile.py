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

from typing import Any, cast

from gleap_actions.engine.errors import MappingRuntimeError, MappingValidationError
from gleap_actions.engine.jsvalues import MISSING, is_truthy, real_type
from gleap_actions.engine.mapping.directives import DIRECTIVE_COMPILERS, Ctx, Resolver
from gleap_actions.engine.mapping.paths import get, parse_path, strip_dollar
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
        if ctx.final and ctx.payload_clean:
            return _compile_clean_object(node, ctx)
        return _compile_object(tuple((key, compile_node(item, ctx)) for key, item in node.items()), ctx)
    if isinstance(node, list):
        if not _has_directive(node):
            return _constant(node)
        return _compile_list(tuple(compile_node(item, ctx) for item in node), ctx)
    return _constant(node)


def _static_path(node: Any) -> tuple[str, ...] | None:
    """The segments of a `{"@path": "$.a.b"}` node (a fixed, non-root path), else None."""
    if isinstance(node, dict) and kind(node) == "directive" and _directive_name(node) == "@path":
        path = node["@path"]
        if isinstance(path, str):
            # The root (None) and a path of no segments ("...") are left to the resolver.
            return parse_path(strip_dollar(path)) or None
    return None


_ABSENT = object()
"""An `@if` branch that is not there (or, for `else`, not truthy): it resolves to MISSING."""


def _if_exists(node: Any) -> tuple[Any, Any, Any] | None:
    """The (exists, then, else) of an `{"@if": {"exists": ...}}` node (exists wins over blank), else None."""
    if isinstance(node, dict) and kind(node) == "directive" and _directive_name(node) == "@if":
        opts = node["@if"]
        if "exists" in opts:
            otherwise = opts["else"] if is_truthy(opts.get("else")) else _ABSENT
            return opts["exists"], opts.get("then", _ABSENT), otherwise
    return None


class _ObjectSource:
    """The Python source of a generated mapping object, and the names it refers to."""

    def __init__(self) -> None:
        self.names: dict[str, Any] = {"MISSING": MISSING, "get": get}
        self.lines = [
            "def resolve_object(payload):",
            "    out = {}",
            "    is_dict = type(payload) is dict",
        ]

    def name(self, value: Any) -> str:
        """A fresh name bound to `value` in the generated function's globals."""
        name = f"n{len(self.names)}"
        self.names[name] = value
        return name

    def add_value(self, node: Any, ctx: Ctx, indent: str) -> None:
        """Lines setting `value` to what `node` resolves to: fixed paths and `@if`/`exists` inlined."""
        if node is _ABSENT:
            self.lines.append(f"{indent}value = MISSING")
        elif (segments := _static_path(node)) is not None:
            steps, last = segments[:-1], repr(segments[-1])  # segments are str: repr is a literal
            walk = "".join(f" and type(value := value.get({step!r}, MISSING)) is dict" for step in steps)
            self.lines += [
                f"{indent}value = payload  # {node['@path']!r}",
                f"{indent}if is_dict{walk}:",
                f"{indent}    value = value.get({last}, MISSING)",
                # An absent step makes the whole path absent, as `get` would find walking it again.
                f"{indent}elif value is not MISSING:",
                f"{indent}    value = get(payload, {self.name(segments)})",
            ]
        elif (branches := _if_exists(node)) is not None:
            exists, then, otherwise = branches
            self.add_value(exists, ctx, indent)
            self.lines.append(f"{indent}if value is not MISSING and value is not None:")
            self.add_value(then, ctx, indent + "    ")
            self.lines.append(f"{indent}else:")
            self.add_value(otherwise, ctx, indent + "    ")
        else:
            self.lines.append(f"{indent}value = {self.name(compile_node(node, ctx))}(payload)")


def _compile_clean_object(node: dict[str, Any], ctx: Ctx) -> Resolver:
    """A final object over a clean payload, as Python source generated for it and compiled once.

    Every event goes through the top-level object of a mapping, whose values are mostly `@path`s (and
    the `@if`/`exists` choosing between two of them). A loop calling one resolver per key costs calls
    per key; here each fixed path is inlined as a chain of `dict.get`s (anything else, such as a payload
    that is not a dict along the way, falls back to `get`, which has the full semantics), `@if` with
    `exists` becomes an `if`, and other values call their resolver. Keys resolving to MISSING are left
    out, as in `_compile_object`.
    """
    source = _ObjectSource()
    for key, item in node.items():
        source.add_value(item, ctx, "    ")
        source.lines += [
            "    if value is not MISSING:",
            f"        out[{source.name(key)}] = value  # {key!r}",
        ]
    source.lines.append("    return out")
    exec(compile("\n".join(source.lines), "<mapping object>", "exec"), source.names)  # from our own source
    return cast(Resolver, source.names["resolve_object"])


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
