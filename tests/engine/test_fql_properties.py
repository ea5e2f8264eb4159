"""Property tests: any text parses or raises FqlSyntaxError; compiled triggers never raise on JSON events;
generated well-formed triggers parse back to the tree they were printed from, with compositional meaning."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gleap_actions import fql
from gleap_actions.engine.fql.nodes import And, Comparison, Function, Node, Not, Or, Path

KEYS = ["type", "event", "name", "userId", "properties", "traits", "context", "total", "items", "0", "1"]
KEYS += ["a b", "x.y", "and", "not", "größe", "$browser", "true"]
FRAGMENTS = [
    "type", "event", "properties.total", "traits.email", "context.app.version", "items.0", "=", "!=", "<",
    "<=", ">", ">=", "and", "or", "AND", "OR", "not", "!", "(", ")", ",", '"track"', "'x'", '"a\\"b"', "1",
    "-2.5", "1e3", "true", "false", "null", "contains(", "match(", '"*"', "[", "]", '["a b"]', ".", "\\",
    '"', "'", "*", "\n", "@", "==", "1.", "\\u00e9",
]  # fmt: skip
SETTINGS = settings(max_examples=200, deadline=None)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6)
keys = st.sampled_from(KEYS) | st.text(max_size=4)
json_values = st.recursive(
    json_scalars | st.sampled_from(["track", "page", "Order Completed", "x", "*"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=20,
)
events = st.dictionaries(keys, json_values, max_size=6)


@SETTINGS
@given(st.text())
def test_arbitrary_text_parses_or_raises_fql_syntax_error(text: str) -> None:
    try:
        trigger = fql.parse(text)
    except fql.FqlSyntaxError as error:
        assert 1 <= error.column <= len(text) + 1
        assert error.reason.startswith("expected ")
    else:
        assert trigger.text == text


@SETTINGS
@given(st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=3), max_size=12), st.sampled_from(["", " "]))
def test_token_soup_parses_or_raises_fql_syntax_error(fragments: list[str], separator: str) -> None:
    text = separator.join(fragments)
    try:
        trigger = fql.parse(text)
    except fql.FqlSyntaxError as error:
        assert 1 <= error.column <= len(text) + 1
    else:
        assert isinstance(trigger({"type": "track", "properties": {"total": 1}}), bool)


# Generated syntax trees and a printer, to check the parser from the outside.

paths: st.SearchStrategy[Path] = st.lists(keys, min_size=1, max_size=4).map(tuple)
numbers = st.integers(-(10**20), 10**20) | st.floats(allow_nan=False, allow_infinity=False)
values = st.text(max_size=8) | numbers | st.booleans() | st.none()
comparisons = st.one_of(
    st.builds(Comparison, paths, st.sampled_from(["=", "!="]), values),
    st.builds(Comparison, paths, st.sampled_from(["<", "<=", ">", ">="]), numbers),
)
functions = st.builds(
    Function, st.sampled_from(["contains", "match"]), paths, st.text(max_size=8), st.booleans()
)
trees: st.SearchStrategy[Node] = st.recursive(
    comparisons | functions,
    lambda inner: (
        st.builds(Not, inner)
        | st.lists(inner, min_size=2, max_size=4).map(lambda c: And(tuple(c)))
        | st.lists(inner, min_size=2, max_size=4).map(lambda c: Or(tuple(c)))
    ),
    max_leaves=8,
)
_BARE_FIRST = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")
_BARE_NEXT = re.compile(r"[A-Za-z0-9_$-]+")
_WORDS = {"and", "or", "not", "true", "false", "null", "contains", "match"}


def show_path(path: Path) -> str:
    out = []
    for i, key in enumerate(path):
        bare = _BARE_FIRST if i == 0 else _BARE_NEXT
        if bare.fullmatch(key) and not (i == 0 and key.lower() in _WORDS):
            out.append(key if i == 0 else f".{key}")
        else:
            out.append(f"[{json.dumps(key, ensure_ascii=False)}]")
    return "".join(out)


def show_value(value: object) -> str:
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def show(node: Node, keyword_case: str = "lower", minimal: bool = False) -> str:
    """Prints a tree; `minimal` leaves out the parentheses that precedence makes unnecessary."""

    def word(w: str) -> str:
        return w.upper() if keyword_case == "upper" else w

    def child(c: Node, parent: type) -> str:
        text = show(c, keyword_case, minimal)
        needs = isinstance(c, And | Or) and not (minimal and parent is Or and isinstance(c, And))
        return f"({text})" if needs else text

    if isinstance(node, Comparison):
        return f"{show_path(node.path)} {node.operator} {show_value(node.value)}"
    if isinstance(node, Function):
        call = f"{node.name}({show_path(node.path)}, {json.dumps(node.argument, ensure_ascii=False)})"
        return f"!{call}" if node.negated else call
    if isinstance(node, Not):
        return f"{word('not')} ({show(node.child, keyword_case, minimal)})"
    joiner = f" {word('and')} " if isinstance(node, And) else f" {word('or')} "
    return joiner.join(child(c, type(node)) for c in node.children)


@SETTINGS
@given(trees, st.sampled_from(["lower", "upper"]), st.booleans())
def test_generated_triggers_parse_back_to_their_tree(node: Node, keyword_case: str, minimal: bool) -> None:
    text = show(node, keyword_case, minimal)
    assert fql.parse(text).tree == node, text


@SETTINGS
@given(trees, trees, events)
def test_compiled_triggers_return_bools_and_compose(left: Node, right: Node, event: dict[str, Any]) -> None:
    first, second = show(left), show(right)
    a, b = fql.parse(first)(event), fql.parse(second)(event)
    assert isinstance(a, bool)
    assert fql.parse(f"not ({first})")(event) is (not a)
    assert fql.parse(f"({first}) and ({second})")(event) is (a and b)
    assert fql.parse(f"({first}) or ({second})")(event) is (a or b)


TRIGGERS = [
    'type = "track" or type = "page" or type = "screen"',
    'event = "Order Completed" and properties.total > 100',
    "properties.items.0.price >= 1 or properties.items[1] = null",
    'contains(properties.name, "x") and !match(context.page.url, "*a*b")',
    "traits.vip = true and traits.logins != 0 or userId = 123",
    "not (properties.total < 0) and properties.a.b.c != null",
    'match(event, "*") or contains(type, "") or name = false',
    'properties["a b"].0 = "x" or properties.total = "1"',
]


@SETTINGS
@given(st.sampled_from(TRIGGERS), json_values)
def test_compiled_triggers_never_raise_on_any_json_value(text: str, event: Any) -> None:
    assert isinstance(fql.parse(text)(event), bool)
    if isinstance(event, dict):
        assert isinstance(fql.parse(text)({"properties": event, "context": event, "traits": event}), bool)
