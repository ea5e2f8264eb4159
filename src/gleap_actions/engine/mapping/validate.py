"""Mapping validation (Segment's `validate.ts`): every problem, each as `/<location> <text>.`

Messages and locations are Segment's (`/@replace/pattern should be a string of length 10 or less.`).
Unlike Segment, which stops at the first failing level and never looks inside raw arrays, all
problems are collected, array elements are validated (their index is part of the location), and
mistakes Segment only reports when an event arrives (its run-time checks that depend on the mapping
alone, e.g. `@flatten` without a separator, a Liquid syntax error) are reported here, with
Segment's run-time message. See docs/compatibility/mapping.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from gleap_actions.engine.jsvalues import is_truthy, js_length, real_type
from gleap_actions.engine.mapping.root import ROOT_DIRECTIVE_KEY, RootDirectiveError, expand_root

DIRECTIVES = frozenset(
    (
        "@if",
        "@case",
        "@replace",
        "@arrayPath",
        "@path",
        "@template",
        "@literal",
        "@flatten",
        "@json",
        "@merge",
        "@transform",
        "@excludeWhenNull",
        "@liquid",
    )
)
MAX_PATTERN_LENGTH = 10
MAX_REPLACEMENT_LENGTH = 10

Stack = tuple[str, ...]


def kind(value: Any) -> str:
    """Segment's `realTypeOrDirective`: "directive" for an object with any `@` key, else the real type."""
    if isinstance(value, dict) and any(isinstance(key, str) and key.startswith("@") for key in value):
        return "directive"
    return real_type(value)


def _a(type_name: str) -> str:
    return f"an {type_name}" if type_name[:1] in ("a", "e", "i", "o", "u") else f"a {type_name}"


_JSON_KINDS = frozenset(("directive", "object", "array", "boolean", "string", "number", "null"))


class _Validator:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, stack: Stack, text: str) -> None:
        self.errors.append(f"/{'/'.join(stack)} {text}.")

    # -- generic values ------------------------------------------------------------------------

    def value(self, value: Any, stack: Stack) -> None:
        """Any mapping value: directives are checked, objects and arrays are entered."""
        if isinstance(value, dict):
            bad_keys = [key for key in value if not isinstance(key, str)]
            if bad_keys:
                self.fail(stack, f"has a non-string key: {bad_keys[0]!r}")
                return
            if kind(value) == "directive":
                self.directive(value, stack)
            else:
                for key, item in value.items():
                    self.value(item, (*stack, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.value(item, (*stack, str(index)))
        elif kind(value) not in _JSON_KINDS:
            self.fail(stack, f"should be a mapping directive or a JSON value but it is {_a(kind(value))}")

    def directive(self, obj: dict[str, Any], stack: Stack) -> None:
        keys = list(obj)
        names = [key for key in keys if key.startswith("@")]
        if len(names) > 1:
            self.fail(stack, f"should only have one @-prefixed key but it has {len(names)} keys")
            return
        if any(not key.startswith("@") and key != "_metadata" for key in keys):
            self.fail(stack, f"should only have one @-prefixed key but it has {len(keys)} keys")
            return
        name = names[0]
        if name not in DIRECTIVES:
            self.fail(stack, f"has an invalid directive: {name}")
            return
        _RULES[name](self, obj[name], (*stack, name))

    # -- type checks (the value itself was already checked generically) ---------------------------

    def expect(self, value: Any, stack: Stack, allowed: frozenset[str], text: str) -> bool:
        found = kind(value)
        if found in allowed:
            return True
        self.fail(stack, f"should be {text} but it is {_a(found)}")
        return False

    def directive_or_string(self, value: Any, stack: Stack) -> None:
        self.expect(value, stack, _DIRECTIVE_OR_STRING, "a string or a mapping directive")

    def directive_or_object(self, value: Any, stack: Stack) -> None:
        self.expect(value, stack, _DIRECTIVE_OR_OBJECT, "a object or a mapping directive")

    def string(self, value: Any, stack: Stack, min_length: int = 0, max_length: int | None = None) -> None:
        if not self.expect(value, stack, _STRING, "a string"):
            return
        if js_length(value) < min_length:
            self.fail(stack, f"should be a string of length {min_length} or greater")
        elif max_length is not None and js_length(value) > max_length:
            self.fail(stack, f"should be a string of length {max_length} or less")

    def one_of(self, value: Any, stack: Stack, allowed: tuple[str, ...]) -> None:
        if self.expect(value, stack, _STRING, "a string") and value.lower() not in allowed:
            self.fail(stack, f"should be one of {', '.join(allowed)} but it is {_quote(value)}")

    def fields(self, value: Any, stack: Stack, required: tuple[str, ...] = ()) -> dict[str, Any] | None:
        """An object argument: its keys are checked generically, then the required ones must exist."""
        if not self.expect(value, stack, _OBJECT, "an object"):
            return None
        self.value(value, stack)
        for name in required:
            if name not in value:
                self.fail(stack, f'should have field "{name}" but it doesn\'t')
        return value  # type: ignore[no-any-return]


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


_DIRECTIVE_OR_STRING = frozenset(("directive", "string"))
_DIRECTIVE_OR_OBJECT = frozenset(("directive", "object"))
_STRING = frozenset(("string",))
_OBJECT = frozenset(("object",))
_BOOLEAN = frozenset(("boolean",))

# -- per-directive rules ---------------------------------------------------------------------------


def _if(v: _Validator, arg: Any, stack: Stack) -> None:
    opts = v.fields(arg, stack)
    if opts is not None and not is_truthy(opts.get("exists")) and not is_truthy(opts.get("blank")):
        v.fail(stack, 'requires an "exists" key or a "blank" key')


def _case(v: _Validator, arg: Any, stack: Stack) -> None:
    opts = v.fields(arg, stack)
    if opts is None:
        return
    if "operator" in opts:
        v.string(opts["operator"], (*stack, "operator"))
    if "value" in opts:
        v.directive_or_string(opts["value"], (*stack, "value"))
    operator = opts.get("operator")
    if not is_truthy(operator):
        v.fail(stack, 'requires a "operator" key')
    elif isinstance(operator, str) and operator not in ("lower", "upper") and is_truthy(opts.get("value")):
        v.fail(stack, 'operator key should have a value of "lower" or "upper"')


def _replace(v: _Validator, arg: Any, stack: Stack) -> None:
    opts = v.fields(arg, stack, required=("pattern", "value"))
    if opts is None:
        return
    if "pattern" in opts:
        v.string(opts["pattern"], (*stack, "pattern"), 1, MAX_PATTERN_LENGTH)
    if "replacement" in opts:
        v.string(opts["replacement"], (*stack, "replacement"), 0, MAX_REPLACEMENT_LENGTH)
    if "value" in opts:
        v.directive_or_string(opts["value"], (*stack, "value"))
    for flag in ("ignorecase", "global"):
        if flag in opts:
            v.expect(opts[flag], (*stack, flag), _BOOLEAN, "a boolean")
    # Segment checks the second pair only when it runs; a too-long one fails every such event
    pattern2, replacement2 = opts.get("pattern2"), opts.get("replacement2")
    if isinstance(pattern2, str) and pattern2 and is_truthy(opts.get("value")):
        if js_length(pattern2) > MAX_PATTERN_LENGTH:
            v.fail((*stack, "pattern2"), f"should be a string of length {MAX_PATTERN_LENGTH} or less")
        if isinstance(replacement2, str) and js_length(replacement2) > MAX_REPLACEMENT_LENGTH:
            v.fail((*stack, "replacement2"), f"should be a string of length {MAX_REPLACEMENT_LENGTH} or less")


def _array_path(v: _Validator, arg: Any, stack: Stack) -> None:
    if not isinstance(arg, list):
        v.fail(stack, f"should be an array but it is {_a(real_type(arg))}")
        return
    if not arg:
        v.fail(stack, "should be a string or a mapping directive but it is an undefined")
        return
    v.value(arg[0], stack)
    v.directive_or_string(arg[0], stack)
    if len(arg) > 1:
        v.value(arg[1], stack)


def _string_directive(v: _Validator, arg: Any, stack: Stack) -> None:
    v.value(arg, stack)
    v.directive_or_string(arg, stack)


def _raw_directive(v: _Validator, arg: Any, stack: Stack) -> None:
    v.value(arg, stack)


def _json(v: _Validator, arg: Any, stack: Stack) -> None:
    opts = v.fields(arg, stack, required=("value", "mode"))
    if opts is None:
        return
    if "mode" in opts:
        v.one_of(opts["mode"], (*stack, "mode"), ("encode", "decode"))
    if "value" in opts and not is_truthy(opts["value"]):
        v.fail(stack, 'requires a "value" key')


def _flatten(v: _Validator, arg: Any, stack: Stack) -> None:
    opts = v.fields(arg, stack, required=("value",))
    if opts is None:
        return
    if "separator" in opts:
        v.string(opts["separator"], (*stack, "separator"))
    if not is_truthy(opts.get("separator")):
        v.fail(stack, 'requires a "separator" key')


def _merge(v: _Validator, arg: Any, stack: Stack) -> None:
    opts = v.fields(arg, stack, required=("objects",))
    if opts is None:
        return
    if "direction" in opts:
        v.one_of(opts["direction"], (*stack, "direction"), ("left", "right"))
    if not is_truthy(opts.get("direction")):
        v.fail(stack, 'requires a "direction" key')
    objects = opts.get("objects")
    if "objects" in opts and not isinstance(objects, list):
        v.fail((*stack, "objects"), f"should be an array but it is {_a(real_type(objects))}")
    elif isinstance(objects, list):
        for index, item in enumerate(objects):
            v.directive_or_object(item, (*stack, "objects", str(index)))


def _transform(v: _Validator, arg: Any, stack: Stack) -> None:
    if not v.expect(arg, stack, _OBJECT, "an object"):
        return
    for key, item in arg.items():
        if key == "apply":
            _transform_apply(v, item, (*stack, key))
        else:
            v.value(item, (*stack, key))
    for name in ("apply", "mapping"):
        if name not in arg:
            v.fail(stack, f'should have field "{name}" but it doesn\'t')
        else:
            v.directive_or_object(arg[name], (*stack, name))


def _transform_apply(v: _Validator, apply: Any, stack: Stack) -> None:
    """`apply` runs as a full transform, so a root directive inside it is expanded first."""
    try:
        v.value(expand_root(apply), stack)
    except RootDirectiveError as error:
        v.fail((*stack, ROOT_DIRECTIVE_KEY), str(error))


def _liquid(v: _Validator, arg: Any, stack: Stack) -> None:
    # Imported on first use, as in directives.py: python-liquid is slow to import.
    from gleap_actions.engine.mapping.liquid import LiquidTemplateError, compile_liquid

    v.value(arg, stack)
    if v.expect(arg, stack, _STRING, "a string"):
        try:
            compile_liquid(arg)
        except LiquidTemplateError as error:
            v.fail(stack, str(error))


_RULES: dict[str, Callable[[_Validator, Any, Stack], None]] = {
    "@if": _if,
    "@case": _case,
    "@replace": _replace,
    "@arrayPath": _array_path,
    "@path": _string_directive,
    "@template": _string_directive,
    "@literal": _raw_directive,
    "@excludeWhenNull": _raw_directive,
    "@json": _json,
    "@flatten": _flatten,
    "@merge": _merge,
    "@transform": _transform,
    "@liquid": _liquid,
}


def mapping_errors(mapping: Any) -> list[str]:
    """Every problem in `mapping` (after root-directive expansion), in order, without duplicates."""
    validator = _Validator()
    try:
        validator.value(expand_root(mapping), ())
    except RootDirectiveError as error:
        validator.fail((ROOT_DIRECTIVE_KEY,), str(error))
    except RecursionError:
        validator.fail((), "is nested too deeply")
    return list(dict.fromkeys(validator.errors))
