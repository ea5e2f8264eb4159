# Over 400 lines: one recursive-descent parser for the whole grammar, a method per rule.
"""The parser: tokens to a typed syntax tree, checking as it goes what may follow what.

```
definition  = or_expr
or_expr     = and_expr { "OR" and_expr }              # AND binds tighter than OR
and_expr    = unary { "AND" unary }
unary       = "NOT" unary | "(" or_expr ")" | predicate
predicate   = chain [ comparator ]
chain       = event(s) { "." filter } "." reducer | trait(s) | property([parent:] s) | context(s) | literal(v)
filter      = where(or_expr) | within([parent:] d) | between([parent:] d, d) | sources({exclude: ids})
            | expires_after(d)
reducer     = count() | sum(p) | avg(p) | min(p [as t]) | max(p [as t]) | mode(p [as t] [, n]) | first(p)
            | last(p) | unique(p) [ ".count()" ]
comparator  = ("=" | "==" | "!=" | ">" | ">=" | "<" | "<=") value | "." name "(" arguments ")"
```

Each function returns a fixed type (a stream of events, a value, a list, a boolean), and the type decides
what may follow; a wrong step is an error at its column saying what was expected there.

Over 400 lines: one recursive-descent parser whose methods call each other, kept in one class to be read
top to bottom (the vocabulary is in `vocabulary.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeGuard, TypeVar

from gleap_actions.audiences.errors import QuerySyntaxError
from gleap_actions.audiences.lexer import Kind, Token, tokenize
from gleap_actions.audiences.nodes import (
    MICROS,
    And,
    Comparison,
    Condition,
    ContextRef,
    Duration,
    EventChain,
    ExpiresAfter,
    Filter,
    Literal,
    Node,
    Not,
    Or,
    PropertyRef,
    Reduce,
    Scalar,
    Sources,
    TraitRef,
    Where,
    Window,
)
from gleap_actions.audiences.values import to_instant
from gleap_actions.audiences.vocabulary import (
    COMPARATORS,
    FILTERS,
    OLD_COMPARATORS,
    REDUCERS,
    SYMBOLS,
    split_path,
)

_T = TypeVar("_T")
MAX_PRIMARIES = 50
MAX_DEPTH = 64
_AS_TYPES = {"min": ("number", "string"), "max": ("number", "string"), "mode": ("string", "number", "array")}
_UNITS = {f"{unit}{plural}": unit for unit in MICROS for plural in ("", "s")}
_REDUCER_LIST = "count(), sum(), avg(), min(), max(), mode(), first(), last() or unique()"
_FILTER_LIST = "where(), within(), between(), sources() or expires_after()"
_EXTRACTORS = "event(), trait(), property(), context() or literal()"
_VALUE = "a value (a quoted string, a number, a date, true, false, literal(), trait() or property())"


@dataclass(frozen=True, slots=True)
class _Scope:
    """What `property()` may refer to here: the current event, and the enclosing (parent) event."""

    current: bool
    parent: bool


def parse(text: str) -> Node:
    """The syntax tree of `text`; QuerySyntaxError with the column for anything malformed."""
    return _Parser(text).parse()


def is_list(node: Node) -> bool:
    """Whether `node` is a list value (`unique(p)` without `.count()`)."""
    return isinstance(node, Reduce) and node.reducer == "unique" and not node.then_count


def is_condition(node: Node) -> TypeGuard[Condition]:
    """Whether `node` is a boolean (a comparison or a junction)."""
    return isinstance(node, Comparison | Not | And | Or)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.position = 0
        self.primaries = 0
        self.depth = 0
        self.scopes = [_Scope(current=False, parent=False)]

    # -- tokens -----------------------------------------------------------------------------------------

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.position + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.peek()
        self.position = min(self.position + 1, len(self.tokens) - 1)
        return token

    def error(self, expected: str, token: Token | None = None) -> QuerySyntaxError:
        token = token or self.peek()
        return QuerySyntaxError(
            f"expected {expected}, got {token.describe()}", text=self.text, column=token.column
        )

    def fail(self, message: str, column: int) -> QuerySyntaxError:
        return QuerySyntaxError(message, text=self.text, column=column)

    def punct(self, char: str, after: str) -> Token:
        if not self.peek().is_punct(char):
            raise self.error(f"'{char}' {after}")
        return self.advance()

    def string(self, what: str) -> str:
        token = self.peek()
        if token.kind is not Kind.STRING:
            raise self.error(f"{what} as a quoted string")
        self.advance()
        assert isinstance(token.value, str)
        return token.value

    # -- junctions --------------------------------------------------------------------------------------

    def parse(self) -> Node:
        node = self.or_expr()
        if self.peek().kind is not Kind.END:
            raise self.error("AND, OR or the end of the definition")
        return node

    def or_expr(self) -> Node:
        self.enter()
        items = [self.and_expr()]
        while self.peek().is_word("or"):
            items.append(self.junction_operand(items, "OR", self.and_expr))
        self.depth -= 1
        return items[0] if len(items) == 1 else Or(tuple(items))  # type: ignore[arg-type]

    def enter(self) -> None:
        """One level deeper (parentheses, NOT, where()); refused past MAX_DEPTH, before Python's own limit."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(f"nested more than {MAX_DEPTH} levels deep", self.peek().column)

    def and_expr(self) -> Node:
        items = [self.unary()]
        while self.peek().is_word("and"):
            items.append(self.junction_operand(items, "AND", self.unary))
        return items[0] if len(items) == 1 else And(tuple(items))  # type: ignore[arg-type]

    def junction_operand(self, items: list[Node], word: str, parse_next: Callable[[], Node]) -> Node:
        keyword = self.advance()
        if not is_condition(items[-1]):
            raise self.fail(f"expected a comparison (such as '>= 1') before {word}", keyword.column)
        start = self.peek()
        node: Node = parse_next()
        if not is_condition(node):
            raise self.fail(f"expected a comparison (such as '>= 1') after {word}", start.column)
        return node

    def unary(self) -> Node:
        token = self.peek()
        if token.is_word("not"):
            self.advance()
            start = self.peek()
            self.enter()
            item = self.unary()
            self.depth -= 1
            if not is_condition(item):
                raise self.fail("expected a comparison (such as '>= 1') after NOT", start.column)
            return Not(item)
        if token.is_word("any", "all"):
            raise self.fail(
                f"{token.text.upper()} applies to account audiences, which are not supported", token.column
            )
        if token.is_punct("("):
            self.advance()
            node = self.or_expr()
            self.punct(")", "to close the parenthesis")
            return node
        return self.predicate()

    # -- chains -----------------------------------------------------------------------------------------

    def predicate(self) -> Node:
        start = self.peek()
        if start.kind is not Kind.WORD or not self.peek(1).is_punct("("):
            raise self.error("a condition: NOT, '(', event(), trait()")
        operand = self.chain()
        if isinstance(operand, Literal):
            raise self.fail(
                "a definition cannot start with literal(): compare trait() or event() to it", start.column
            )
        comparison = self.comparator(operand)
        return comparison if comparison is not None else operand

    def chain(self) -> Scalar:
        name = self.advance()
        self.punct("(", f"after {name.text}")
        if name.text == "event":
            self.count_primary(name)
            chain = EventChain(self.string("an event name"), (), name.column)
            self.punct(")", "after the event name")
            return self.steps(chain)
        if name.text == "trait":
            self.count_primary(name)
            node: Scalar = TraitRef(split_path(self.string("a trait name")), name.column)
        elif name.text in ("property", "context"):
            self.count_primary(name)
            node = self.event_field(name)
        elif name.text == "literal":
            node = self.literal_value()
        elif name.text == "entity":
            raise self.fail("entity() belongs to Linked Audiences, which are not supported", name.column)
        else:
            raise self.error(f"one of {_EXTRACTORS}", name)
        self.punct(")", f"to close {name.text}(")
        if self.peek().is_punct(".") and self.peek(1).text in (*FILTERS, *REDUCERS):
            raise self.fail(
                f"{name.text}() gives a single value: only a comparator may follow it", self.peek(1).column
            )
        return node

    def event_field(self, name: Token) -> PropertyRef | ContextRef:
        scope = self.scopes[-1]
        parent = False
        if name.text == "property" and self.peek().is_word("parent") and self.peek(1).is_punct(":"):
            self.advance()
            self.advance()
            parent = True
            if not scope.parent:
                raise self.fail(
                    "property(parent: ...) needs an event() chain inside another event's where()", name.column
                )
        if not scope.current:
            raise self.fail(
                f"{name.text}() can only be used inside where() or as a reducer's argument", name.column
            )
        path = split_path(self.string(f"a {name.text} name"))
        if name.text == "context":
            return ContextRef(path, name.column)
        return PropertyRef(path, parent, name.column)

    def count_primary(self, token: Token) -> None:
        self.primaries += 1
        if self.primaries > MAX_PRIMARIES:
            raise self.fail(
                f"a definition may hold at most {MAX_PRIMARIES} primary expressions", token.column
            )

    def steps(self, chain: EventChain) -> Scalar:
        nested = self.scopes[-1].current
        while True:
            if not self.peek().is_punct("."):
                raise self.error(f"'.' and a reducer ({_REDUCER_LIST}) after event('{chain.name}')")
            step = self.peek(1)
            if step.text in REDUCERS:
                self.advance()
                self.advance()
                return self.reducer(chain, step, nested)
            if step.text not in FILTERS:
                raise self.error(f"a filter ({_FILTER_LIST}) or a reducer ({_REDUCER_LIST})", step)
            self.advance()
            self.advance()
            self.punct("(", f"after {step.text}")
            chain = replace(chain, filters=(*chain.filters, self.filter(step, nested)))
            self.punct(")", f"to close {step.text}(")

    def filter(self, step: Token, nested: bool) -> Filter:
        if step.text == "where":
            self.scopes.append(_Scope(current=True, parent=nested))
            opening = self.peek()
            condition = self.or_expr()
            self.scopes.pop()
            if not is_condition(condition):
                raise self.fail("expected a comparison (such as '>= 1') inside where()", opening.column)
            return Where(condition)
        if step.text == "sources":
            return Sources(frozenset(self.sources()))
        if step.text == "expires_after":
            return ExpiresAfter(self.duration().micros)
        parent = self.peek().is_word("parent") and self.peek(1).is_punct(":")
        if parent:
            if not nested:
                raise self.fail(
                    f"{step.text}(parent: ...) needs an event() chain inside another event's where()",
                    step.column,
                )
            self.advance()
            self.advance()
        first = self.duration()
        if step.text == "within":
            return Window(0, first.micros, parent, step.column)
        self.punct(",", "between the two durations of between()")
        second = self.duration()
        start, end = sorted((first.micros, second.micros))
        if start == end:
            raise self.fail("between() needs two different durations", step.column)
        return Window(start, end, parent, step.column)

    def sources(self) -> list[str]:
        self.punct("{", "to open {exclude: ...}")
        if not self.peek().is_word("exclude"):
            raise self.error("exclude")
        self.advance()
        self.punct(":", "after exclude")
        ids = self.list_of(lambda: self.string("a source id"))
        self.punct("}", "to close {exclude: ...}")
        return ids

    def duration(self) -> Duration:
        amount = self.peek()
        if amount.kind is not Kind.NUMBER or not isinstance(amount.value, int) or amount.value <= 0:
            raise self.error("a duration such as 7 days (a whole number above 0 and a unit)")
        self.advance()
        unit = self.peek()
        base = _UNITS.get(unit.text.lower()) if unit.kind is Kind.WORD else None
        if base is None:
            raise self.error("a unit: seconds, minutes, hours or days")
        self.advance()
        return Duration(amount.value, base, amount.value * MICROS[base])

    def reducer(self, chain: EventChain, step: Token, nested: bool) -> Reduce:
        self.punct("(", f"after {step.text}")
        if step.text == "count":
            self.punct(")", "count() takes no argument")
            return Reduce(chain, "count", None, None, 1, False, step.column)
        self.scopes.append(_Scope(current=True, parent=nested))
        start = self.peek()
        if not (start.is_word("property", "context") and self.peek(1).is_punct("(")):
            raise self.error(f"property() or context() as the argument of {step.text}()")
        self.advance()
        self.punct("(", f"after {start.text}")
        argument = self.event_field(start)
        self.punct(")", f"to close {start.text}(")
        self.scopes.pop()
        as_type = None
        if self.peek().is_word("as"):
            word = self.advance()
            allowed = _AS_TYPES.get(step.text)
            if allowed is None:
                raise self.fail("'as' is allowed only in min(), max() and mode()", word.column)
            if self.peek().text not in allowed:
                raise self.error(" or ".join(allowed) + " after as")
            as_type = self.advance().text
        min_count = 1
        if step.text == "mode" and self.peek().is_punct(","):
            self.advance()
            token = self.peek()
            if token.kind is not Kind.NUMBER or not isinstance(token.value, int) or token.value < 1:
                raise self.error("a minimum frequency (a whole number above 0)")
            min_count = token.value
            self.advance()
        self.punct(")", f"to close {step.text}(")
        then_count = False
        if step.text == "unique" and self.peek().is_punct("."):
            follower = self.peek(1)
            if follower.text != "count":
                raise self.fail("only count() may follow unique()", follower.column)
            self.advance()
            self.advance()
            self.punct("(", "after count")
            self.punct(")", "count() takes no argument")
            then_count = True
        return Reduce(chain, step.text, argument, as_type, min_count, then_count, step.column)

    # -- comparators ------------------------------------------------------------------------------------

    def comparator(self, operand: Scalar) -> Comparison | None:
        token = self.peek()
        if token.kind is Kind.OPERATOR:
            if is_list(operand):
                raise self.fail("only count() may follow unique()", token.column)
            self.advance()
            return Comparison(operand, SYMBOLS[token.text], (self.value(),), None, token.column)
        if not token.is_punct("."):
            return None
        name = self.peek(1)
        canonical = OLD_COMPARATORS.get(name.text, name.text)
        if canonical not in COMPARATORS:
            raise self.error("a comparator such as '>= 1', '.equals(...)' or '.exists()'", name)
        if is_list(operand):
            raise self.fail("only count() may follow unique()", name.column)
        self.advance()
        self.advance()
        self.punct("(", f"after {name.text}")
        arity = COMPARATORS[canonical]
        arguments: tuple[Scalar, ...] = ()
        duration = None
        if arity == "one":
            arguments = (self.value(),)
            if canonical in ("before_date", "after_date"):
                self.check_date(arguments[0])
        elif arity == "many":
            arguments = tuple(self.list_of(self.value))
        elif arity == "duration":
            duration = self.duration()
        self.punct(")", f"to close {name.text}(" if arity != "none" else f"{name.text}() takes no argument")
        return Comparison(operand, canonical, arguments, duration, name.column)

    def check_date(self, argument: Scalar) -> None:
        """A constant date argument must be a date (Segment skips such audiences in real time otherwise)."""
        if isinstance(argument, Literal) and to_instant(argument.value) is None:
            raise self.fail("expected a date such as 2024-01-31 or '2024-01-31T12:00:00Z'", argument.column)

    def list_of(self, item: Callable[[], _T]) -> list[_T]:
        """`a, b, ...` or `[a, b, ...]` (the older documented form)."""
        bracket = self.peek().is_punct("[")
        if bracket:
            self.advance()
        items = [item()]
        while self.peek().is_punct(","):
            self.advance()
            items.append(item())
        if bracket:
            self.punct("]", "to close the list")
        return items

    def value(self) -> Scalar:
        token = self.peek()
        if token.kind in (Kind.STRING, Kind.NUMBER, Kind.DATE):
            self.advance()
            return Literal(token.value, token.column)
        if token.is_word("true", "false") and not self.peek(1).is_punct("("):
            self.advance()
            return Literal(token.text.lower() == "true", token.column)
        if token.kind is Kind.WORD and self.peek(1).is_punct("("):
            node = self.chain()
            if is_list(node):
                raise self.fail("a list cannot be compared: add .count()", token.column)
            return node
        raise self.error(_VALUE)

    def literal_value(self) -> Literal:
        token = self.peek()
        if token.kind in (Kind.STRING, Kind.NUMBER, Kind.DATE):
            self.advance()
            return Literal(token.value, token.column)
        if token.is_word("true", "false"):
            self.advance()
            return Literal(token.text.lower() == "true", token.column)
        raise self.error("a string, a number, a date or true/false inside literal()")
