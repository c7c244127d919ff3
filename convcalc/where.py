"""``--where``: a small filter language over a variant's totals, parsed safely (never ``eval``).

    expression := conjunction ("or" conjunction)*
    conjunction := condition ("and" condition)*
    condition  := "not" condition | "(" expression ")" | value OP value
    value      := NAME | NUMBER, NUMBER with an optional k, M or G (10³, 10⁶, 10⁹) suffix
    OP         := < <= > >= == !=

A mistake is reported with the position of the token that does not fit.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Collection, Mapping
from typing import NamedTuple

from convcalc.errors import PointedUsageError, suggestion

SUFFIXES = {"k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9}
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}

_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)(?P<suffix>[kKMG])?"
    r"(?![\w.])|(?P<op><=|>=|==|!=|<|>)|(?P<paren>[()])|(?P<name>[A-Za-z_][\w.\[\]]*))"
)


class GrammarError(PointedUsageError):
    """A ``--where`` expression that does not parse: the message, the text, the column."""

    def __init__(self, message: str, text: str, column: int) -> None:
        super().__init__(f"--where: {message}", text, column)


class Token(NamedTuple):
    """One token: its kind (number, op, paren, name, end), text, value and column."""

    kind: str
    text: str
    value: float
    column: int


Predicate = Callable[[Mapping[str, float]], bool]


def tokens(text: str) -> list[Token]:
    """Split ``text`` into tokens (an unknown character is an error at its column)."""
    found: list[Token] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            column = len(text) - len(text[position:].lstrip())
            word = re.match(r"[\w.]+", text[column:])
            if word is not None and (text[column].isdigit() or text[column] == "."):
                raise GrammarError(
                    f"`{word.group(0)}` is not a number (suffixes: k, M, G)", text, column
                )
            raise GrammarError(f"unexpected `{text[column]}`", text, column)
        column = match.start(match.lastgroup or 0)
        kind = match.lastgroup or ""
        if kind == "suffix":
            kind = "number"
        if match.group("number") is not None:
            value = float(match.group("number")) * SUFFIXES.get(match.group("suffix") or "", 1)
            found.append(Token("number", match.group(0).strip(), value, match.start("number")))
        else:
            found.append(Token(kind, match.group(kind), 0.0, column))
        position = match.end()
    found.append(Token("end", "", 0.0, len(text)))
    return found


def parse_where(text: str, names: Collection[str]) -> Predicate:
    """The predicate ``text`` describes; ``names`` are the values it may compare."""
    if not text.strip():
        raise GrammarError("the expression is empty", text, 0)
    return Parser(text, names).parse()


class Parser:
    """Recursive descent over :func:`tokens`."""

    def __init__(self, text: str, names: Collection[str]) -> None:
        self.text = text
        self.names = names
        self.tokens = tokens(text)
        self.position = 0

    def fail(self, message: str, token: Token) -> GrammarError:
        """An error at ``token``."""
        return GrammarError(message, self.text, token.column)

    @property
    def current(self) -> Token:
        """The next token."""
        return self.tokens[self.position]

    def keyword(self, word: str) -> bool:
        """Take ``word`` if it is next."""
        token = self.current
        if token.kind == "name" and token.text.lower() == word:
            self.position += 1
            return True
        return False

    def parse(self) -> Predicate:
        """The whole expression; anything left over is an error."""
        predicate = self.expression()
        if self.current.kind != "end":
            raise self.fail(
                f"expected `and`, `or` or the end, got `{self.current.text}`", self.current
            )
        return predicate

    def expression(self) -> Predicate:
        """Conjunctions joined by ``or``."""
        parts = [self.conjunction()]
        while self.keyword("or"):
            parts.append(self.conjunction())
        if len(parts) == 1:
            return parts[0]
        return lambda values: any(part(values) for part in parts)

    def conjunction(self) -> Predicate:
        """Conditions joined by ``and``."""
        parts = [self.condition()]
        while self.keyword("and"):
            parts.append(self.condition())
        if len(parts) == 1:
            return parts[0]
        return lambda values: all(part(values) for part in parts)

    def condition(self) -> Predicate:
        """``not``, a parenthesised expression or a comparison."""
        if self.keyword("not"):
            inner = self.condition()
            return lambda values: not inner(values)
        if self.current.kind == "paren" and self.current.text == "(":
            opening = self.current
            self.position += 1
            inner = self.expression()
            if not (self.current.kind == "paren" and self.current.text == ")"):
                raise self.fail(f"`(` at column {opening.column + 1} is never closed", self.current)
            self.position += 1
            return inner
        left = self.value()
        token = self.current
        if token.kind != "op":
            shown = f"`{token.text}`" if token.text else "the end"
            raise self.fail(f"expected a comparison (<, <=, >, >=, ==, !=), got {shown}", token)
        self.position += 1
        right = self.value()
        compare = OPERATORS[token.text]
        return lambda values: compare(left(values), right(values))

    def value(self) -> Callable[[Mapping[str, float]], float]:
        """A number or a name."""
        token = self.current
        self.position += 1
        if token.kind == "number":
            number = token.value
            return lambda values: number
        if token.kind == "name" and token.text.lower() not in ("and", "or", "not"):
            if token.text not in self.names:
                raise self.fail(
                    f"unknown name `{token.text}`{suggestion(token.text, self.names)}; "
                    f"names: {', '.join(self.names)}",
                    token,
                )
            name = token.text
            return lambda values: values[name]
        shown = f"`{token.text}`" if token.text else "the end"
        raise self.fail(f"expected a name or a number, got {shown}", token)
