"""Every trigger Segment's UI produces means the same here as in Segment.

Segment's UI stores a subscription as an AST and prints it with `generateFql` (reference section 2.7); the
runtime evaluates that AST with `validate` (section 2.5). Both are ported literally below (including the
falsy short-circuit of Segment's `get`) and used as the oracle: for Segment ASTs of the shapes the UI
produces, our compiled trigger on the printed text must agree with Segment's evaluation on every event.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gleap_actions import fql
from gleap_actions.engine.fql.values import number_text

UNDEFINED = object()
FIELD_PREFIX = {"event-property": "properties", "event-trait": "traits", "event-context": "context"}
TOP_LEVEL = {"event-type": "type", "event": "event", "name": "name", "userId": "userId"}
NEGATED = {"not_contains": "contains", "not_starts_with": "starts_with", "not_ends_with": "ends_with"}


# Segment's generateFql, ported.


def generate_fql(node: dict[str, Any], top: bool = True) -> str:
    if node["type"] == "group":
        text = f" {node['operator']} ".join(generate_fql(child, top=False) for child in node["children"])
        return text if top else f"({text})"
    if node["type"] in TOP_LEVEL:
        field = TOP_LEVEL[node["type"]]
    else:
        escaped = re.sub(r"([^A-Za-z0-9._-])", r"\\\1", node["name"])
        field = f"{FIELD_PREFIX[node['type']]}.{escaped}"
    op, value = node["operator"], node.get("value")
    if op == "exists":
        return f"{field} != null"
    if op == "not_exists":
        return f"{field} = null"
    if op in ("is_true", "is_false"):
        return f"{field} = {'true' if op == 'is_true' else 'false'}"
    bang = "!" if op in NEGATED else ""
    op = NEGATED.get(op, op)
    if op == "contains":
        return f'{bang}contains({field}, "{value}")'
    if op == "starts_with":
        return f'{bang}match({field}, "{value}*")'
    if op == "ends_with":
        return f'{bang}match({field}, "*{value}")'
    if op in ("number_equals", "number_not_equals"):
        return f"{field} {'=' if op == 'number_equals' else '!='} {number_text(value)}"
    if op in ("<", "<=", ">", ">="):
        return f"{field} {op} {number_text(value)}"
    return f'{field} {op} "{value}"' if isinstance(value, str) else f"{field} {op} {js_string(value)}"


# Segment's validate and get, ported.


def truthy(value: Any) -> bool:
    return value is not UNDEFINED and value not in (None, False, 0, "") and value == value


def js_index(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        return value.get(key, UNDEFINED)
    if isinstance(value, list | str):
        if key == "length":
            return len(value)
        if key.isascii() and key.isdigit() and (key == "0" or key[0] != "0") and int(key) < len(value):
            return value[int(key)]
    return UNDEFINED


def segment_get(obj: Any, name: str) -> Any:
    segments = [s for s in re.split(r"[.\[\]]", name) if s]
    if not segments:
        return UNDEFINED
    current = obj
    for segment in segments:
        if not truthy(current):
            return current
        current = js_index(current, segment)
    return current


def js_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return number_text(value)
    return str(value)


def is_number(value: Any) -> bool:
    return type(value) in (int, float)


def segment_validate(node: dict[str, Any], event: dict[str, Any]) -> bool:
    if node["type"] == "group":
        results = [segment_validate(child, event) for child in node["children"]]
        return all(results) if node["operator"] == "and" else any(results)
    if node["type"] in TOP_LEVEL:
        actual = event.get(TOP_LEVEL[node["type"]], UNDEFINED)
    else:
        actual = segment_get(event.get(FIELD_PREFIX[node["type"]], UNDEFINED), node["name"])
    op, expected = node["operator"], node.get("value")
    if op == "=":
        return isinstance(actual, str) and actual == js_string(expected)
    if op == "!=":
        return not (isinstance(actual, str) and actual == js_string(expected))
    if op == "number_equals":
        return is_number(actual) and actual == expected
    if op == "number_not_equals":
        return is_number(actual) and actual != expected
    if op in ("<", "<=", ">", ">="):
        if not is_number(actual):
            return False
        return {"<": actual < expected, "<=": actual <= expected, ">": actual > expected}.get(
            op, actual >= expected
        )
    if op == "exists":
        return actual is not UNDEFINED and actual is not None
    if op == "not_exists":
        return actual is UNDEFINED or actual is None
    if op in ("is_true", "is_false"):
        return actual is (op == "is_true")
    if not isinstance(actual, str):
        return False
    positive = NEGATED.get(op, op)
    value = js_string(expected)
    found = {
        "contains": value in actual,
        "starts_with": actual.startswith(value),
        "ends_with": actual.endswith(value),
    }[positive]
    return found if positive == op else not found


def leaf(kind: str, operator: str, value: Any = None, name: str = "") -> dict[str, Any]:
    node: dict[str, Any] = {"type": kind, "operator": operator}
    if name:
        node["name"] = name
    if operator not in ("exists", "not_exists", "is_true", "is_false"):
        node["value"] = value
    return node


def group(operator: str, *children: dict[str, Any]) -> dict[str, Any]:
    return {"type": "group", "operator": operator, "children": list(children)}


EVENTS: list[dict[str, Any]] = [
    {
        "type": "track",
        "event": "Product Added",
        "properties": {"price": 120, "name": "Nike Air", "premium": "true"},
    },
    {"type": "track", "event": "Order Completed", "properties": {"total": 600, "name": "X-Box"}},
    {"type": "track", "event": "Order Completed", "properties": {"total": 10, "premium": True}},
    {"type": "identify", "userId": "u1", "traits": {"logins": 150, "plan": "premium", "name": "Nike fan X"}},
    {"type": "identify", "event": "identify", "traits": {"logins": 5, "age": 51}},
    {"type": "track", "event": "Signed Up", "traits": {"age": 50}, "userId": None},
    {"type": "page", "name": "Home", "context": {"page": {"path": "/"}}},
    {"type": "screen", "name": "Nike X", "properties": {"name": None}},
    {"type": "group", "traits": {"name": "X"}},
    {"type": "alias"},
    {},
]

# Triggers of the shapes in Segment's own parse tests, with the AST Segment produces for them.
SEGMENT_TRIGGERS = [
    ('type = "track"', leaf("event-type", "=", "track")),
    (
        'type = "track" or type = "identify"',
        group("or", leaf("event-type", "=", "track"), leaf("event-type", "=", "identify")),
    ),
    ('event = "Product Added"', leaf("event", "=", "Product Added")),
    ("userId != null", leaf("userId", "exists")),
    ('name = "Home"', leaf("name", "=", "Home")),
    (
        'type = "track" and (event = "Product Added" or event = "Order Completed")',
        group(
            "and",
            leaf("event-type", "=", "track"),
            group("or", leaf("event", "=", "Product Added"), leaf("event", "=", "Order Completed")),
        ),
    ),
    (
        'event = "Product Added" and properties.price >= 100 and properties.premium = "true"',
        group(
            "and",
            leaf("event", "=", "Product Added"),
            leaf("event-property", ">=", 100, "price"),
            leaf("event-property", "=", "true", "premium"),
        ),
    ),
    (
        '(event = "Product Added" and properties.price >= 100) or '
        '(event = "Order Completed" and properties.total >= 500)',
        group(
            "or",
            group("and", leaf("event", "=", "Product Added"), leaf("event-property", ">=", 100, "price")),
            group("and", leaf("event", "=", "Order Completed"), leaf("event-property", ">=", 500, "total")),
        ),
    ),
    (
        '(event = "identify" and traits.logins >= 100) or (event = "Signed Up" and traits.age >= 50)',
        group(
            "or",
            group("and", leaf("event", "=", "identify"), leaf("event-trait", ">=", 100, "logins")),
            group("and", leaf("event", "=", "Signed Up"), leaf("event-trait", ">=", 50, "age")),
        ),
    ),
    ('contains(event, "Nike")', leaf("event", "contains", "Nike")),
    (
        'event = "Product Added" and contains(properties.name, "Nike")',
        group("and", leaf("event", "=", "Product Added"), leaf("event-property", "contains", "Nike", "name")),
    ),
    (
        'event = "Product Added" and !contains(traits.name, "Nike")',
        group(
            "and", leaf("event", "=", "Product Added"), leaf("event-trait", "not_contains", "Nike", "name")
        ),
    ),
    ('match(event, "X*")', leaf("event", "starts_with", "X")),
    ('!match(event, "X*")', leaf("event", "not_starts_with", "X")),
    (
        'event = "Product Added" and match(traits.name, "*X")',
        group("and", leaf("event", "=", "Product Added"), leaf("event-trait", "ends_with", "X", "name")),
    ),
    ('!match(event, "*X")', leaf("event", "not_ends_with", "X")),
    (
        'event = "Product Added" and properties.name != null',
        group("and", leaf("event", "=", "Product Added"), leaf("event-property", "exists", name="name")),
    ),
    (
        'event = "Product Added" and traits.name = null',
        group("and", leaf("event", "=", "Product Added"), leaf("event-trait", "not_exists", name="name")),
    ),
    (
        "properties.premium = true or properties.total = 10",
        group(
            "or",
            leaf("event-property", "is_true", name="premium"),
            leaf("event-property", "number_equals", 10, "total"),
        ),
    ),
    (
        "properties.total != 600 and context.page.path = null",
        group(
            "and",
            leaf("event-property", "number_not_equals", 600, "total"),
            leaf("event-context", "not_exists", name="page.path"),
        ),
    ),
]


@pytest.mark.parametrize(("text", "ast"), SEGMENT_TRIGGERS, ids=[t for t, _ in SEGMENT_TRIGGERS])
def test_segment_triggers_keep_their_meaning(text: str, ast: dict[str, Any]) -> None:
    assert generate_fql(ast) == text  # the port prints what Segment's round-trip tests assert
    trigger = fql.parse(text)
    for event in EVENTS:
        assert trigger(event) is segment_validate(ast, event), event


# Generated UI-shaped subscriptions: one group of conditions (optionally one level of sub-groups of
# comparisons, which Segment also parses correctly), printed by generateFql, compared on generated events.

KEYS = ["price", "name", "plan", "is vip", "größe", "$ref", "a-b_c"]
NESTED = ["obj", "page"]  # only these hold objects in generated events, so no falsy value is crossed
WORDS = ["track", "Nike", "Nike Air", "X", "", "premium", "true", "12", "Air X"]
names = st.sampled_from(KEYS) | st.tuples(st.sampled_from(NESTED), st.sampled_from(KEYS)).map(".".join)
numbers = st.integers(-3, 200) | st.sampled_from([0.5, 12.0, 1e21, -0.0])
words = st.sampled_from(WORDS)
string_ops = st.sampled_from(["=", "!=", "contains", "not_contains", "starts_with", "not_starts_with"])
string_ops |= st.sampled_from(["ends_with", "not_ends_with"])
top_level = st.builds(leaf, st.sampled_from(list(TOP_LEVEL)), string_ops, words)
unary_ops = st.sampled_from(["exists", "not_exists", "is_true", "is_false"])
number_ops = st.sampled_from(["number_equals", "number_not_equals", "<", "<=", ">", ">="])
kinds = st.sampled_from(list(FIELD_PREFIX))
nested = st.one_of(
    st.builds(lambda k, o, v, n: leaf(k, o, v, n), kinds, string_ops, words, names),
    st.builds(lambda k, o, n: leaf(k, o, name=n), kinds, unary_ops, names),
    st.builds(lambda k, o, v, n: leaf(k, o, v, n), kinds, number_ops, numbers, names),
)
conditions = top_level | nested
comparisons = conditions.filter(lambda n: n["operator"] not in NEGATED and "_with" not in n["operator"])
comparisons = comparisons.filter(lambda n: n["operator"] != "contains")
subgroups = st.builds(
    lambda op, children: group(op, *children),
    st.sampled_from(["and", "or"]),
    st.lists(comparisons, min_size=2, max_size=3),
)
subscriptions = st.builds(
    lambda op, children: group(op, *children),
    st.sampled_from(["and", "or"]),
    st.lists(conditions | subgroups, min_size=1, max_size=4),
)
scalars = st.none() | st.booleans() | numbers | words
payload = st.dictionaries(st.sampled_from(KEYS), scalars, max_size=5) | st.dictionaries(
    st.sampled_from(KEYS + NESTED), st.none() | st.dictionaries(st.sampled_from(KEYS), scalars), max_size=3
)
events = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["track", "page", "identify", "X"]),
        "event": words,
        "name": words | st.booleans(),
        "userId": words | numbers | st.none(),
        "properties": payload,
        "traits": payload,
        "context": payload,
    },
)


@settings(max_examples=200, deadline=None)
@given(subscriptions, st.lists(events, min_size=1, max_size=5))
def test_generated_ui_subscriptions_agree_with_segment(
    ast: dict[str, Any], sample: list[dict[str, Any]]
) -> None:
    text = generate_fql(ast)
    trigger = fql.parse(text)
    for event in sample:
        assert trigger(event) is segment_validate(ast, event), (text, event)
