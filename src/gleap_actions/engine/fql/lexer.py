"""The FQL lexer: trigger text to a list of tokens, each with its 1-based column.

A field path is lexed as one token (`properties.items.0.sku`, `properties["a b"]`, `product\\ 1`), so
segments that look like numbers or keywords after a dot are plain keys. Keywords (`and`, `or`, `not`,
`true`, `false`, `null`, `contains`, `match`) are recognised by the parser from a path token's `word`: a
single unescaped identifier. Strings take `"` or `'` and backslash escapes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from gleap_actions.engine.errors import FqlSyntaxError
from gleap_actions.engine.fql.values import Number, describe_char, parse_number_literal


class Kind(Enum):
    """What a token is."""

    PATH = "field"
    STRING = "string"
    NUMBER = "number"
    OPERATOR = "operator"
    BANG = "'!'"
    LPAREN = "'('"
    RPAREN = "')'"
    COMMA = "','"
    END = "end of trigger"


@dataclass(frozen=True, slots=True)
class Token:
    """One token. `text` is the source text; the decoded value is in the field for its kind."""

    kind: Kind
    text: str
    column: int
    path: tuple[str, ...] = ()
    word: str | None = None  # a path that is one plain identifier: keywords and function names
    string: str = ""
    number: Number = 0

    def describe(self) -> str:
        """How an error message names this token (long tokens shortened)."""
        if self.kind is Kind.END:
            return "end of trigger"
        if self.kind is Kind.PATH:
            if self.word is not None and self.word.lower() in {"and", "or", "not"}:
                return f"'{self.word}'"
            if self.word in {"true", "false", "null"}:
                return self.word
            return f"field {_shorten(self.text)}"
        if self.kind in (Kind.STRING, Kind.NUMBER):
            return f"{self.kind.value} {_shorten(self.text)}"
        return f"'{self.text}'"


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_DIGITS = frozenset("0123456789")
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "/": "/", "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}
_HEX = frozenset("0123456789abcdefABCDEF")
_SINGLE = {"(": Kind.LPAREN, ")": Kind.RPAREN, ",": Kind.COMMA}


def _is_key_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_-$"


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.tokens: list[Token] = []

    def error(self, message: str, index: int) -> FqlSyntaxError:
        return FqlSyntaxError(message, text=self.text, column=index + 1)

    def found(self, index: int) -> str:
        return describe_char(self.text[index]) if index < len(self.text) else "end of trigger"

    def run(self) -> list[Token]:
        text = self.text
        while True:
            while self.pos < len(text) and text[self.pos].isspace():
                self.pos += 1
            if self.pos >= len(text):
                self.tokens.append(Token(Kind.END, "", len(text) + 1))
                return self.tokens
            self.tokens.append(self.token())

    def token(self) -> Token:
        text, start = self.text, self.pos
        ch = text[start]
        nxt = text[start + 1] if start + 1 < len(text) else ""
        if ch in _SINGLE:
            self.pos += 1
            return Token(_SINGLE[ch], ch, start + 1)
        if ch == "=":
            if nxt == "=":
                raise self.error("expected '=' (FQL equality is a single '='), found '=='", start)
            return self.operator("=")
        if ch == "!":
            if nxt == "=":
                return self.operator("!=")
            self.pos += 1
            return Token(Kind.BANG, "!", start + 1)
        if ch in "<>":
            return self.operator(ch + "=" if nxt == "=" else ch)
        if ch in "\"'":
            value = self.string()
            return Token(Kind.STRING, text[start : self.pos], start + 1, string=value)
        if ch in _DIGITS or (ch in "+-" and nxt in _DIGITS):
            return self.number()
        if ch.isalpha() or ch in "_$\\[":
            return self.path()
        raise self.error(
            f"expected a condition, value, operator or parenthesis, found {describe_char(ch)}", start
        )

    def operator(self, op: str) -> Token:
        start = self.pos
        self.pos += len(op)
        return Token(Kind.OPERATOR, op, start + 1)

    def number(self) -> Token:
        start = self.pos
        found = _NUMBER.match(self.text, start)
        assert found is not None  # the caller saw a digit, or a sign before one
        end = found.end()
        if end < len(self.text) and (_is_key_char(self.text[end]) or self.text[end] in ".\\"):
            raise self.error(f"expected a number, found {_shorten(self.text[start : end + 1])!r}", start)
        literal = found.group()
        number = parse_number_literal(literal)
        if number is None:
            raise self.error(f"expected a number of reasonable size, found {_shorten(literal)}", start)
        self.pos = end
        return Token(Kind.NUMBER, literal, start + 1, number=number)

    def string(self) -> str:
        """Reads a quoted string at `pos`, decoding escapes; an unknown escape stays as written."""
        text, start = self.text, self.pos
        quote = text[start]
        out: list[str] = []
        i = start + 1
        while i < len(text):
            ch = text[i]
            if ch == quote:
                self.pos = i + 1
                return "".join(out)
            if ch == "\\" and i + 1 < len(text):
                esc = text[i + 1]
                if esc == "u":
                    code = self.hex4(i)
                    i += 6
                    # a JSON-style surrogate pair, e.g. "\ud83d\ude00", is one character
                    if 0xD800 <= code < 0xDC00 and text.startswith("\\u", i):
                        low = self.hex4(i)
                        if 0xDC00 <= low < 0xE000:
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                            i += 6
                    out.append(chr(code))
                    continue
                out.append(_ESCAPES.get(esc, "\\" + esc))
                i += 2
                continue
            out.append(ch)
            i += 1
        raise self.error(f"expected a closing {quote} for the string, found end of trigger", start)

    def hex4(self, index: int) -> int:
        """The code of the `\\uXXXX` escape at `index`."""
        digits = self.text[index + 2 : index + 6]
        if len(digits) != 4 or not _HEX.issuperset(digits):
            raise self.error(f"expected 4 hex digits after \\u, found {digits!r}", index)
        return int(digits, 16)

    def path(self) -> Token:
        text, start = self.text, self.pos
        segments: list[str] = []
        plain = text[start] != "["
        if plain:
            segment, escaped = self.key()
            plain = not escaped
            segments.append(segment)
        while self.pos < len(text):
            ch = text[self.pos]
            if ch == ".":
                self.pos += 1
                segment, _ = self.key()
                if not segment:
                    raise self.error(f"expected a key after '.', found {self.found(self.pos)}", self.pos)
                segments.append(segment)
            elif ch == "[":
                segments.append(self.bracket())
            else:
                break
            plain = False
        word = segments[0] if plain else None
        return Token(Kind.PATH, text[start : self.pos], start + 1, path=tuple(segments), word=word)

    def key(self) -> tuple[str, bool]:
        """Reads one dotted key: key characters and backslash escapes. Returns (key, had escapes)."""
        text = self.text
        out: list[str] = []
        escaped = False
        while self.pos < len(text):
            ch = text[self.pos]
            if ch == "\\":
                if self.pos + 1 >= len(text):
                    raise self.error("expected a character after '\\', found end of trigger", self.pos)
                out.append(text[self.pos + 1])
                escaped = True
                self.pos += 2
            elif _is_key_char(ch):
                out.append(ch)
                self.pos += 1
            else:
                break
        return "".join(out), escaped

    def bracket(self) -> str:
        """Reads `["key"]`, `['key']` or `[0]` at `pos`."""
        text = self.text
        self.pos += 1
        ch = text[self.pos] if self.pos < len(text) else ""
        if ch in ('"', "'"):
            key = self.string()
        elif ch in _DIGITS:
            begin = self.pos
            while self.pos < len(text) and text[self.pos] in _DIGITS:
                self.pos += 1
            key = text[begin : self.pos]
        else:
            raise self.error(
                f"expected a quoted key or an index after '[', found {self.found(self.pos)}", self.pos
            )
        if self.pos >= len(text) or text[self.pos] != "]":
            raise self.error(f"expected ']', found {self.found(self.pos)}", self.pos)
        self.pos += 1
        return key


def tokenize(text: str) -> list[Token]:
    """Splits a trigger into tokens, ending with an END token; raises `FqlSyntaxError`."""
    return _Lexer(text).run()
