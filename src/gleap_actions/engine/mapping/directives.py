"""The directives, each compiled from its (validated) argument into a resolver `payload -> value`.

Semantics are Segment's (`mapping-kit/index.ts`, reference section 1.5); the comments note the
JavaScript rules that are easy to get wrong. Checks Segment makes at run time on the mapping alone
are done by validation, so a compiled directive only fails on what the event contains.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from gleap_actions.engine.errors import MappingRuntimeError
from gleap_actions.engine.jsvalues import MISSING, is_loosely_blank, is_truthy, js_json, js_string, real_type
from gleap_actions.engine.mapping.paths import compile_getter, get, parse_path, strip_dollar
from gleap_actions.engine.mapping.replace import compile_replace
from gleap_actions.engine.mapping.root import expand_root
from gleap_actions.engine.mapping.templates import compile_template
from gleap_actions.engine.mapping.validate import kind
from gleap_actions.engine.mapping.values import assign, exclude_nulls, finalize, flatten, remove_undefined

Resolver = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Ctx:
    """Where a node's result goes.

    final: the result lands in the output (undefined keys dropped, undefined elements null);
        otherwise it is raw, keeping undefined values for the directive that consumes it.
    payload_clean: the payload holds no undefined values (false inside `@transform`'s mapping and
        shapes applied to items of a computed array, whose items may be undefined).
    """

    final: bool = True
    payload_clean: bool = True

    def raw(self) -> Ctx:
        return Ctx(final=False, payload_clean=self.payload_clean)

    def clean(self) -> Ctx:
        return Ctx(final=True, payload_clean=self.payload_clean)


Compile = Callable[[Any, Ctx], Resolver]


def _missing(payload: Any) -> Any:
    return MISSING


def _finalized(resolve: Resolver, ctx: Ctx) -> Resolver:
    """`resolve` if its result is already clean enough for `ctx`, else a wrapper cleaning it."""
    if not ctx.final or ctx.payload_clean:
        return resolve
    return lambda payload: finalize(resolve(payload))


def _string_argument(name: str, arg: Any, ctx: Ctx, compile: Compile) -> Callable[[Any], str]:
    resolve = compile(arg, ctx.clean())

    def resolve_string(payload: Any) -> str:
        value = resolve(payload)
        if not isinstance(value, str):
            raise MappingRuntimeError(f"{name}: expected string, got {real_type(value)}")
        return value

    return resolve_string


def compile_path(arg: Any, ctx: Ctx, compile: Compile) -> Resolver:
    """`@path`: the value at a path (its first `$.` removed); missing -> MISSING."""
    if isinstance(arg, str):
        return _finalized(compile_getter(parse_path(strip_dollar(arg))), ctx)
    path_of = _string_argument("@path", arg, ctx, compile)

    def resolve_dynamic_path(payload: Any) -> Any:
        return get(payload, parse_path(strip_dollar(path_of(payload))))

    return _finalized(resolve_dynamic_path, ctx)


def compile_template_directive(arg: Any, ctx: Ctx, compile: Compile) -> Resolver:
    """`@template`: `{{path}}` placeholders rendered as text."""
    if isinstance(arg, str):
        return compile_template(arg)
    template_of = _string_argument("@template", arg, ctx, compile)
    return lambda payload: compile_template(template_of(payload))(payload)


def compile_literal(arg: Any, ctx: Ctx, compile: Compile) -> Resolver:
    """`@literal`: its argument, resolved (directives inside are not frozen)."""
    return compile(arg, ctx)


def compile_if(opts: dict[str, Any], ctx: Ctx, compile: Compile) -> Resolver:
    """`@if`: `then` whenever it is present, but `else` only when it is truthy (Segment's asymmetry)."""
    then = compile(opts["then"], ctx) if "then" in opts else _missing
    otherwise = compile(opts["else"], ctx) if is_truthy(opts.get("else")) else _missing
    if "exists" in opts:  # exists wins whenever present, even next to blank
        test = compile(opts["exists"], ctx.clean())

        def resolve_if_exists(payload: Any) -> Any:
            value = test(payload)
            return then(payload) if value is not MISSING and value is not None else otherwise(payload)

        return resolve_if_exists
    test = compile(opts["blank"], ctx.clean())

    def resolve_if_not_blank(payload: Any) -> Any:
        value = test(payload)
        if value is not MISSING and value is not None and not is_loosely_blank(value):
            return then(payload)
        return otherwise(payload)

    return resolve_if_not_blank


def compile_case(opts: dict[str, Any], ctx: Ctx, compile: Compile) -> Resolver:
    """`@case`: lower- or upper-case a string; other values pass through unchanged."""
    if not is_truthy(opts.get("value")):
        return _missing
    resolve = compile(opts["value"], ctx)
    convert: Callable[[str], str] = str.lower if opts["operator"] == "lower" else str.upper

    def resolve_case(payload: Any) -> Any:
        value = resolve(payload)
        return convert(value) if isinstance(value, str) else value

    return resolve_case


def compile_replace_directive(opts: dict[str, Any], ctx: Ctx, compile: Compile) -> Resolver:
    """`@replace`: literal pattern(s); non-text values give `""`, booleans and numbers print as JS."""
    if not is_truthy(opts.get("value")):
        return _missing
    ignorecase = bool(opts.get("ignorecase", False))
    global_ = opts.get("global", True) is not False
    replacement = opts.get("replacement")
    steps = [compile_replace(opts["pattern"], replacement or "", ignorecase=ignorecase, global_=global_)]
    pattern2, replacement2 = opts.get("pattern2"), opts.get("replacement2")
    if replacement2 is None:
        replacement2 = ""
    if isinstance(pattern2, str) and pattern2 and isinstance(replacement2, str):
        steps.append(compile_replace(pattern2, replacement2, ignorecase=ignorecase, global_=global_))
    resolve = compile(opts["value"], ctx.clean())

    def resolve_replace(payload: Any) -> Any:
        value = resolve(payload)
        if isinstance(value, bool | int | float):
            value = js_string(value)
        elif not isinstance(value, str):
            return ""
        for step in steps:
            value = step(value)
        return value

    return resolve_replace


def compile_array_path(arg: list[Any], ctx: Ctx, compile: Compile) -> Resolver:
    """`@arrayPath`: the array at a path, each item reshaped by `itemShape` (items are the payload)."""
    path = arg[0]
    shape = arg[1] if len(arg) > 1 else None
    if not (isinstance(shape, dict) and shape):  # no shape: the value itself
        return compile_path(path, ctx, compile) if isinstance(path, str) else compile(path, ctx)

    if isinstance(path, str):
        root = compile_getter(parse_path(strip_dollar(path)))
        items_clean = ctx.payload_clean
    else:  # a computed root may hold undefined items, which the shape sees as such
        root = compile(path, ctx.raw())
        items_clean = False
    reshape = compile(shape, Ctx(final=ctx.final, payload_clean=items_clean))
    final = ctx.final

    def resolve_array_path(payload: Any) -> Any:
        value = root(payload)
        if isinstance(value, dict):
            items: list[Any] = [value]
        elif isinstance(value, list):
            items = value
        else:
            return value
        if final:
            return [None if (item := reshape(element)) is MISSING else item for element in items]
        return [reshape(element) for element in items]

    return resolve_array_path


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def _parse_json(text: str) -> Any:
    """JS `JSON.parse`, or the text itself when it is not JSON."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    try:  # orjson refuses some texts JSON.parse accepts (escaped lone surrogates, deep nesting)
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return text


def compile_json(opts: dict[str, Any], ctx: Ctx, compile: Compile) -> Resolver:
    """`@json`: `encode` is `JSON.stringify`, `decode` is `JSON.parse` (text kept if invalid)."""
    mode = opts["mode"]
    if mode == "encode":
        encode_value = compile(opts["value"], ctx.clean())

        def resolve_encode(payload: Any) -> Any:
            value = encode_value(payload)
            return MISSING if value is MISSING else js_json(value)

        return resolve_encode
    if mode == "decode":
        decode_value = compile(opts["value"], ctx)

        def resolve_decode(payload: Any) -> Any:
            value = decode_value(payload)
            return _parse_json(value) if isinstance(value, str) else value

        return resolve_decode
    # any other spelling ("ENCODE" passes validation): the value is resolved, the result missing
    resolve = compile(opts["value"], ctx.clean())

    def resolve_unknown_mode(payload: Any) -> Any:
        resolve(payload)
        return MISSING

    return resolve_unknown_mode


def compile_flatten(opts: dict[str, Any], ctx: Ctx, compile: Compile) -> Resolver:
    """`@flatten`: nested keys joined by `separator` (arrays too, unless `omitArrays`)."""
    separator: str = opts["separator"]
    omit_arrays = is_truthy(opts.get("omitArrays"))
    resolve = compile(opts["value"], ctx.raw())
    final = ctx.final

    def resolve_flatten(payload: Any) -> Any:
        flat = flatten(resolve(payload), separator, omit_arrays=omit_arrays)
        return finalize(flat) if final else flat

    return resolve_flatten


def compile_merge(opts: dict[str, Any], ctx: Ctx, compile: Compile) -> Resolver:
    """`@merge`: `Object.assign` of the objects, right (last wins) or left (first wins).

    An undefined property overwrites an earlier value and is then removed, as in Segment.
    """
    sources = tuple(compile(item, ctx.raw()) for item in opts["objects"])
    left = opts["direction"] == "left"  # exactly "left"; anything else behaves as right
    final = ctx.final

    def resolve_merge(payload: Any) -> Any:
        objects = [resolve(payload) for resolve in sources]
        if left:
            objects.reverse()
        merged: dict[str, Any] = {}
        for item in objects:
            assign(merged, item)
        return finalize(merged) if final else merged

    return resolve_merge


def _may_leave_undefined_items(node: Any) -> bool:
    """Whether resolving `node` can put undefined elements into an array.

    Only a list with a directive as an element or `@arrayPath` can: `removeUndefined` keeps such
    elements, so `@transform`'s mapping must then treat its payload as unclean.
    """
    if isinstance(node, dict):
        if "@arrayPath" in node:
            return True
        return any(_may_leave_undefined_items(item) for key, item in node.items() if key != "_metadata")
    if isinstance(node, list):
        return any(kind(item) == "directive" or _may_leave_undefined_items(item) for item in node)
    return False


def compile_transform(opts: dict[str, Any], ctx: Ctx, compile: Compile) -> Resolver:
    """`@transform`: a full transform with `apply`, then `mapping` against that result only."""
    apply_node = expand_root(opts["apply"])
    apply = compile(apply_node, ctx.raw())
    clean = ctx.payload_clean and not _may_leave_undefined_items(apply_node)
    mapping = compile(opts["mapping"], Ctx(final=ctx.final, payload_clean=clean))

    def resolve_transform(payload: Any) -> Any:
        if not isinstance(payload, dict):
            raise MappingRuntimeError(f"data must be an object, got {real_type(payload)}")
        return mapping(remove_undefined(apply(payload)))

    return resolve_transform


def compile_exclude_when_null(arg: Any, ctx: Ctx, compile: Compile) -> Resolver:
    """`@excludeWhenNull`: null becomes missing, as do null properties of (nested) objects."""
    resolve = compile(arg, ctx)
    final = ctx.final
    return lambda payload: exclude_nulls(resolve(payload), final=final)


def compile_liquid_directive(arg: str, ctx: Ctx, compile: Compile) -> Resolver:
    """`@liquid`: a Liquid template rendered with the event as its variables."""
    # Imported on first use: python-liquid takes longer to import than most commands take to run.
    from liquid.exceptions import LiquidError

    from gleap_actions.engine.mapping.liquid import compile_liquid, liquid_message

    render = compile_liquid(arg)
    payload_clean = ctx.payload_clean

    def resolve_liquid(payload: Any) -> str:
        variables = payload if isinstance(payload, dict) else {}
        if not payload_clean:
            variables = finalize(variables)
        try:
            return render(variables)
        except LiquidError as error:
            raise MappingRuntimeError(liquid_message(error)) from error
        except (TypeError, ValueError, ArithmeticError) as error:  # a filter failing on event data
            raise MappingRuntimeError(f"@liquid: {error}") from error

    return resolve_liquid


DIRECTIVE_COMPILERS: dict[str, Callable[[Any, Ctx, Compile], Resolver]] = {
    "@path": compile_path,
    "@template": compile_template_directive,
    "@literal": compile_literal,
    "@if": compile_if,
    "@case": compile_case,
    "@replace": compile_replace_directive,
    "@arrayPath": compile_array_path,
    "@json": compile_json,
    "@flatten": compile_flatten,
    "@merge": compile_merge,
    "@transform": compile_transform,
    "@excludeWhenNull": compile_exclude_when_null,
    "@liquid": compile_liquid_directive,
}
