"""The lexer: definition text to tokens, each with its 1-based column.

Strings take `'` or `"`; `\\'`, `\\"` and `\\\\` are escapes, any other backslash is kept (so
`'a\\.b'` reaches the path splitter, which reads `\\.` as a literal dot). Dates and timestamps may be unquoted
(`2023-12-07`, `2023-12-07T18:50:00Z`). A number may start with a dot where a value is expected (`<= .20`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from gleap_actions.audiences.errors import QuerySyntaxError
from gleap_actions.audiences.values import DateText, to_instant


class Kind(Enum):
    """What a token is; the value is how messages name the kind."""

    WORD = "a name"
    STRING = "a string"
    NUMBER = "a number"
    DATE = "a date"
    OPERATOR = "an operator"
    PUNCT = "punctuation"
    END = "end of definition"


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its kind, source text, column, and decoded value (strings, numbers)."""

    kind: Kind
    text: str
    column: int
    value: object = None

    def is_word(self, *words: str) -> bool:
        """Whether this is one of `words` (keywords are matched case-insensitively)."""
        return self.kind is Kind.WORD and self.text.lower() in words

    def is_punct(self, char: str) -> bool:
        """Whether this is the punctuation `char`."""
        return self.kind is Kind.PUNCT and self.text == char

    def describe(self) -> str:
        """How an error message names this token."""
        if self.kind is Kind.END:
            return "end of definition"
        text = self.text if len(self.text) <= 30 else self.text[:27] + "..."
        return (
            f"'{text}'"
            if self.kind in (Kind.WORD, Kind.PUNCT, Kind.OPERATOR)
            else f"{self.kind.value} {text}"
        )


_DATE = re.compile(r"\d{4}-\d\d-\d\d(?:T\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d(?::?\d\d)?)?)?", re.ASCII)
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_DIGITS = frozenset("0123456789")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = ("==", "!=", ">=", "<=", "=", ">", "<")
_PUNCT = frozenset("(){}[],.:")
_ESCAPED = frozenset("'\"\\")
# After these a `.` followed by a digit starts a number (`<= .20`), elsewhere it is a call (`x).count()`).
_VALUE_EXPECTED = frozenset({Kind.OPERATOR})


def tokenize(text: str) -> list[Token]:
    """Every token of `text`, ending with an END token; QuerySyntaxError for a character that starts none."""
    tokens: list[Token] = []
    position = 0
    length = len(text)
    while True:
        while position < length and text[position].isspace():
            position += 1
        if position >= length:
            tokens.append(Token(Kind.END, "", length + 1))
            return tokens
        char = text[position]
        column = position + 1
        if char in "'\"":
            value, position = _string(text, position)
            tokens.append(Token(Kind.STRING, text[column - 1 : position], column, value))
            continue
        if match := _DATE.match(text, position):
            if to_instant(match.group()) is None:
                raise QuerySyntaxError(f"{match.group()} is not a valid date", text=text, column=column)
            tokens.append(Token(Kind.DATE, match.group(), column, DateText(match.group())))
            position = match.end()
            continue
        if _starts_number(text, position, tokens):
            match = _NUMBER.match(text, position)
            assert match is not None
            number = match.group()
            parsed = float(number) if any(c in number for c in ".eE") else int(number)
            tokens.append(Token(Kind.NUMBER, number, column, parsed))
            position = match.end()
            continue
        if match := _WORD.match(text, position):
            tokens.append(Token(Kind.WORD, match.group(), column))
            position = match.end()
            continue
        operator = next((op for op in _OPERATORS if text.startswith(op, position)), None)
        if operator is not None:
            tokens.append(Token(Kind.OPERATOR, operator, column))
            position += len(operator)
            continue
        if char in _PUNCT:
            tokens.append(Token(Kind.PUNCT, char, column))
            position += 1
            continue
        raise QuerySyntaxError(f"unexpected character {char!r}", text=text, column=column)


def _starts_number(text: str, position: int, tokens: list[Token]) -> bool:
    rest = text[position : position + 2]
    if rest[:1] in _DIGITS:
        return True
    if rest[:1] == "-":  # the language has no subtraction: a minus always starts a number
        return _NUMBER.match(text, position) is not None
    if rest[:1] == "." and rest[1:2] in _DIGITS:
        previous = tokens[-1] if tokens else None
        return previous is None or previous.kind in _VALUE_EXPECTED or previous.text in ("(", ",", "[", ":")
    return False


def _string(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    parts: list[str] = []
    position = start + 1
    while position < len(text):
        char = text[position]
        if char == quote:
            return "".join(parts), position + 1
        if char == "\\" and position + 1 < len(text):
            following = text[position + 1]
            parts.append(following if following in _ESCAPED else char + following)
            position += 2
            continue
        parts.append(char)
        position += 1
    raise QuerySyntaxError(f"unterminated string: expected a closing {quote}", text=text, column=start + 1)
