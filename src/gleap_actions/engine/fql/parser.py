"""The FQL parser: tokens to a syntax tree, by recursive descent over this grammar.

    trigger    = or_expr END
    or_expr    = and_expr { ("or" | "OR") and_expr }
    and_expr   = unary { ("and" | "AND") unary }
    unary      = ("not" | "!") unary | ("not" | "!") function | primary
    primary    = "(" or_expr ")" | function | comparison
    function   = ("contains" | "match") "(" path "," value ")"
    comparison = path ("=" | "!=" | "<" | "<=" | ">" | ">=") value
    value      = string | number | "true" | "false" | "null"

Keywords are case-insensitive. `and` binds tighter than `or`. Every malformed trigger raises
`FqlSyntaxError` naming what was expected, what was found and its column.
"""

from __future__ import annotations

from typing import Literal, cast

from gleap_actions.engine.errors import FqlSyntaxError
from gleap_actions.engine.fql.lexer import Kind, Token, tokenize
from gleap_actions.engine.fql.nodes import (
    ORDER_OPERATORS,
    And,
    Comparison,
    Function,
    Node,
    Not,
    Operator,
    Or,
    Value,
)
from gleap_actions.engine.fql.values import number_text, parse_numeric_string

# Parentheses and negations nest at most this deep: the parser and the compiled trigger recurse per level.
MAX_DEPTH = 64

_CONDITION = "a condition (e.g. type = \"track\"), contains(...), match(...), 'not' or '('"
_VALUE = "a value (a quoted string, a number, true, false or null)"
_LITERALS: dict[str, Value] = {"true": True, "false": False, "null": None}
_FUNCTIONS = ("contains", "match")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0
        self.depth = 0

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.peek()
        self.index += 1
        return token

    def error(self, expected: str, token: Token, hint: str = "") -> FqlSyntaxError:
        message = f"expected {expected}, found {token.describe()}{hint}"
        return FqlSyntaxError(message, text=self.text, column=token.column)

    def expect(self, kind: Kind, expected: str) -> Token:
        token = self.peek()
        if token.kind is not kind:
            raise self.error(expected, token)
        return self.advance()

    def is_keyword(self, token: Token, keyword: str) -> bool:
        return token.word is not None and token.word.lower() == keyword

    def is_function(self, token: Token) -> bool:
        return token.word in _FUNCTIONS and self.peek(1).kind is Kind.LPAREN

    def nest(self, token: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FqlSyntaxError(
                f"expected at most {MAX_DEPTH} nested parentheses or negations, found more",
                text=self.text,
                column=token.column,
            )

    def trigger(self) -> Node:
        node = self.or_expr()
        end = self.peek()
        if end.kind is not Kind.END:
            if end.kind is Kind.RPAREN:
                raise self.error("'and', 'or' or end of trigger (this ')' closes nothing)", end)
            raise self.error("'and', 'or' or end of trigger", end)
        return node

    def or_expr(self) -> Node:
        children = [self.and_expr()]
        while self.is_keyword(self.peek(), "or"):
            self.advance()
            children.append(self.and_expr())
        return children[0] if len(children) == 1 else Or(tuple(children))

    def and_expr(self) -> Node:
        children = [self.unary()]
        while self.is_keyword(self.peek(), "and"):
            self.advance()
            children.append(self.unary())
        return children[0] if len(children) == 1 else And(tuple(children))

    def unary(self) -> Node:
        token = self.peek()
        negation = token.kind is Kind.BANG or (
            self.is_keyword(token, "not") and self.peek(1).kind is not Kind.OPERATOR
        )
        if not negation:
            return self.primary()
        self.advance()
        if self.is_function(self.peek()):
            return self.function(negated=True)
        self.nest(token)
        node = Not(self.unary())
        self.depth -= 1
        return node

    def primary(self) -> Node:
        token = self.peek()
        if token.kind is Kind.LPAREN:
            self.advance()
            self.nest(token)
            node = self.or_expr()
            self.expect(Kind.RPAREN, f"'and', 'or' or ')' to close the '(' at column {token.column}")
            self.depth -= 1
            return node
        if token.kind is Kind.PATH and not self.is_keyword(token, "and") and not self.is_keyword(token, "or"):
            if self.is_function(token):
                return self.function(negated=False)
            return self.comparison()
        raise self.error(_CONDITION, token)

    def comparison(self) -> Comparison:
        field = self.advance()
        operator = self.expect(Kind.OPERATOR, f"an operator (=, !=, <, <=, >, >=) after {field.describe()}")
        if operator.text in ORDER_OPERATORS:
            value = self.order_operand(operator)
        else:
            value = self.value(f"{_VALUE} after '{operator.text}'")
        return Comparison(field.path, cast(Operator, operator.text), value)

    def order_operand(self, operator: Token) -> Value:
        """`<`, `<=`, `>`, `>=` compare numbers; a quoted number is read as one (Segment does too)."""
        token = self.peek()
        value = self.value(f"a number after '{operator.text}'")
        number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
        if isinstance(value, str):
            number = parse_numeric_string(value)
        if number is None:
            raise self.error(f"a number after '{operator.text}'", token)
        return number

    def value(self, expected: str) -> Value:
        token = self.peek()
        if token.kind is Kind.STRING:
            self.advance()
            return token.string
        if token.kind is Kind.NUMBER:
            self.advance()
            return token.number
        if token.kind is Kind.PATH and token.word in _LITERALS:
            self.advance()
            return _LITERALS[token.word]
        if token.kind is Kind.PATH and token.word is not None:
            raise self.error(expected, token, f' (to compare with text, quote it: "{token.word}")')
        raise self.error(expected, token)

    def function(self, *, negated: bool) -> Function:
        name = cast(Literal["contains", "match"], self.advance().word)
        self.advance()  # "(", checked by is_function
        field = self.expect(Kind.PATH, f"a field as the 1st argument of {name}()")
        self.expect(Kind.COMMA, f"',' after the 1st argument of {name}()")
        value_token = self.peek()
        value = self.value(f"a string as the 2nd argument of {name}()")
        if value is None:
            raise self.error(f"a string as the 2nd argument of {name}()", value_token)
        if isinstance(value, bool):
            argument = "true" if value else "false"
        elif isinstance(value, int | float):
            argument = number_text(value)
        else:
            argument = value
        self.expect(Kind.RPAREN, f"')' to close {name}(")
        return Function(name, field.path, argument, negated)


def parse_tree(text: str) -> Node:
    """Parses trigger text into its syntax tree; raises `FqlSyntaxError` for any malformed trigger."""
    return _Parser(text).trigger()
