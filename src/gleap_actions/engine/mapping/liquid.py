"""`@liquid`: Liquid templates rendered with python-liquid, restricted the way Segment restricts liquidjs.

Segment disables the tags `case, for, include, layout, render, tablerow` and twenty filters, limits
templates to 1000 characters (UTF-16 code units) and bounds memory. Templates are parsed once when
the mapping is compiled, so a syntax error or a disabled tag is a validation error. Output follows
the project's JS string rules: numbers print as JS does (`1.0` -> `1`) and objects as JSON.
Differences from liquidjs are listed in docs/compatibility/mapping.md.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any, ClassVar, TextIO

from liquid import Environment
from liquid.ast import Node
from liquid.builtin.output import Output, OutputNode
from liquid.builtin.tags.echo_tag import EchoNode, EchoTag
from liquid.exceptions import FilterError, LiquidError, LiquidSyntaxError
from liquid.stream import TokenStream
from liquid.tag import Tag

from gleap_actions.engine.jsvalues import MISSING, js_length, js_string

MAX_TEMPLATE_LENGTH = 1000
MEMORY_LIMIT = 100_000_000  # bytes, liquidjs's memoryLimit in Segment

DISABLED_TAGS = ("case", "for", "include", "layout", "render", "tablerow")
DISABLED_FILTERS = (
    "array_to_sentence_string",
    "concat",
    "find",
    "find_exp",
    "find_index",
    "find_index_exp",
    "group_by",
    "group_by_exp",
    "has",
    "has_exp",
    "map",
    "newline_to_br",
    "reject",
    "reject_exp",
    "reverse",
    "sort",
    "sort_natural",
    "uniq",
    "where_exp",
    "type",
)


class LiquidTemplateError(ValueError):
    """A template that cannot be used (too long, malformed, or using a disabled tag)."""


def _output_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None or value is MISSING:
        return ""
    if isinstance(value, list):  # Liquid prints arrays joined without a separator
        return "".join(_output_text(item) for item in value)
    return js_string(value)


class _JsOutputNode(OutputNode):
    def render_to_output(self, context: Any, buffer: TextIO) -> int:
        return buffer.write(_output_text(self.expression.evaluate(context)))


class _JsEchoNode(EchoNode):
    def render_to_output(self, context: Any, buffer: TextIO) -> int:
        return buffer.write(_output_text(self.expression.evaluate(context)))


class _JsOutput(Output):
    node_class = _JsOutputNode


class _JsEcho(EchoTag):
    node_class = _JsEchoNode


def _disabled_tag(tag_name: str) -> type[Tag]:
    class DisabledTag(Tag):
        name = tag_name
        block = False

        def parse(self, stream: TokenStream) -> Node:
            raise LiquidSyntaxError(f'tag "{tag_name}" is disabled', token=stream.current)

    return DisabledTag


def _disabled_filter(filter_name: str) -> Callable[..., Any]:
    def disabled(*_args: Any, **_kwargs: Any) -> Any:
        raise FilterError(f'filter "{filter_name}" is disabled', token=None)

    return disabled


def _js_join(builtin: Callable[..., Any], environment: Environment) -> Callable[..., Any]:
    """liquidjs's `join`: JavaScript's `Array.join`, so null items print as nothing, numbers and booleans as
    JavaScript prints them (`1`, `true`), and the separator defaults to a space."""

    def join(value: Any, separator: Any = " ") -> Any:
        if not isinstance(value, list):
            return builtin(value, separator, environment=environment)  # python-liquid's, as before
        glue = " " if separator is None or separator is MISSING else _output_text(separator)
        return glue.join("" if item is None or item is MISSING else js_string(item) for item in value)

    return join


class SegmentLiquidEnvironment(Environment):
    """python-liquid configured like Segment's liquidjs engine (no loops, bounded memory)."""

    local_namespace_limit: ClassVar[int | None] = MEMORY_LIMIT
    output_stream_limit: ClassVar[int | None] = MEMORY_LIMIT

    def __init__(self) -> None:
        super().__init__(strict_filters=False)  # liquidjs ignores unknown filters
        self.add_tag(_JsOutput)
        self.add_tag(_JsEcho)
        for tag in DISABLED_TAGS:
            self.add_tag(_disabled_tag(tag))
        for name in DISABLED_FILTERS:
            self.add_filter(name, _disabled_filter(name))
        self.add_filter("join", _js_join(self.filters["join"], self))


_ENVIRONMENT = SegmentLiquidEnvironment()


def liquid_message(error: LiquidError) -> str:
    """The bare message of a python-liquid error (without its source excerpt)."""
    return str(error.args[0]) if error.args else type(error).__name__


@lru_cache(maxsize=256)
def compile_liquid(source: str) -> Callable[[dict[str, Any]], str]:
    """Parse `source` once; returns `context -> str`. Raises LiquidTemplateError for bad templates."""
    if source == "":
        return lambda context: ""
    if js_length(source) > MAX_TEMPLATE_LENGTH:
        raise LiquidTemplateError(f"liquid template values are limited to {MAX_TEMPLATE_LENGTH} characters")
    try:
        template = _ENVIRONMENT.from_string(source)
    except LiquidError as error:
        raise LiquidTemplateError(liquid_message(error)) from error

    def render(context: dict[str, Any]) -> str:
        return template.render(context)  # positional: event keys such as "self" stay variables

    return render
