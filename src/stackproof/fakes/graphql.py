"""Just enough GraphQL to read the queries a client sends: one operation, its variables, and
nested selections with arguments and aliases (the GraphQL spec's executable grammar without
fragments and directives). Errors carry the spec's `locations` (1-based line and column).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

TOKEN = re.compile(
    r"""
    (?P<skip>[\s,\ufeff]+|\#[^\n\r]*)
  | (?P<spread>\.\.\.)
  | (?P<punct>[!$()\[\]{}:=@|&])
  | (?P<name>[_A-Za-z][_0-9A-Za-z]*)
  | (?P<number>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)
  | (?P<string>"(?:[^"\\\n\r]|\\.)*")
    """,
    re.VERBOSE,
)


KIND_NAMES = {"name": "Name", "string": "String", "number": "Int"}


class GraphQLError(Exception):
    """A syntax or validation error, with where it is in the query."""

    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column

    def to_json(self, status: int) -> dict[str, Any]:
        return {
            "message": self.message,
            "status": status,
            "locations": [{"line": self.line, "column": self.column}],
        }


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Variable:
    name: str


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    alias: str | None
    arguments: Mapping[str, Any]
    selections: tuple[Field, ...]
    line: int
    column: int

    @property
    def key(self) -> str:
        return self.alias or self.name


@dataclass(frozen=True, slots=True)
class Operation:
    kind: str
    variables: Mapping[str, Any]  # declared variables and their defaults
    selections: tuple[Field, ...] = field(default=())


def tokens(text: str) -> Iterator[Token]:
    line, line_start, position = 1, 0, 0
    while position < len(text):
        match = TOKEN.match(text, position)
        if match is None:
            raise GraphQLError(
                f"Syntax Error: Unexpected character: {text[position]!r}.",
                line,
                position - line_start + 1,
            )
        kind = match.lastgroup or ""
        if kind != "skip":
            yield Token(kind, match.group(), line, position - line_start + 1)
        for offset, char in enumerate(match.group()):
            if char == "\n":
                line, line_start = line + 1, position + offset + 1
        position = match.end()


class Parser:
    def __init__(self, text: str) -> None:
        self._tokens = list(tokens(text))
        self._at = 0

    def _peek(self) -> Token | None:
        return self._tokens[self._at] if self._at < len(self._tokens) else None

    def _fail(self, expected: str) -> GraphQLError:
        token = self._peek()
        if token is None:
            last = self._tokens[-1] if self._tokens else Token("", "", 1, 1)
            return GraphQLError(
                f"Syntax Error: Expected {expected}, found <EOF>.",
                last.line,
                last.column + len(last.text),
            )
        return GraphQLError(
            f"Syntax Error: Expected {expected}, found {token.text!r}.", token.line, token.column
        )

    def _take(self, text: str | None = None, kind: str | None = None) -> Token:
        token = self._peek()
        if token is None or (text and token.text != text) or (kind and token.kind != kind):
            raise self._fail(text or KIND_NAMES.get(kind or "", "a token"))
        self._at += 1
        return token

    def _is(self, text: str) -> bool:
        token = self._peek()
        return token is not None and token.text == text and token.kind != "string"

    def document(self) -> Operation:
        if self._peek() is None:
            raise GraphQLError("Syntax Error: Unexpected <EOF>.")
        operation = self._operation()
        if (extra := self._peek()) is not None:
            raise GraphQLError(
                "This fake reads one operation per request and no fragments.",
                extra.line,
                extra.column,
            )
        return operation

    def _operation(self) -> Operation:
        if self._is("{"):
            return Operation("query", {}, self._selections())
        kind = self._take(kind="name")
        if kind.text not in ("query", "mutation", "subscription"):
            raise GraphQLError(
                f'Syntax Error: Unexpected Name "{kind.text}".', kind.line, kind.column
            )
        if (token := self._peek()) is not None and token.kind == "name":
            self._take(kind="name")  # the operation's name
        variables = self._variable_definitions() if self._is("(") else {}
        if self._is("@"):
            token = self._take()
            raise GraphQLError("This fake does not support directives.", token.line, token.column)
        return Operation(kind.text, variables, self._selections())

    def _variable_definitions(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        self._take("(")
        while not self._is(")"):
            self._take("$")
            name = self._take(kind="name").text
            self._take(":")
            self._type()
            default = None
            if self._is("="):
                self._take("=")
                default = self._value(const=True)
            found[name] = default
        self._take(")")
        return found

    def _type(self) -> None:
        if self._is("["):
            self._take("[")
            self._type()
            self._take("]")
        else:
            self._take(kind="name")
        if self._is("!"):
            self._take("!")

    def _selections(self) -> tuple[Field, ...]:
        self._take("{")
        found: list[Field] = []
        while not self._is("}"):
            if self._is("..."):
                token = self._take()
                raise GraphQLError(
                    "This fake does not support fragments.", token.line, token.column
                )
            found.append(self._field())
        self._take("}")
        if not found:
            raise self._fail(KIND_NAMES["name"])
        return tuple(found)

    def _field(self) -> Field:
        first = self._take(kind="name")
        alias, name = None, first
        if self._is(":"):
            self._take(":")
            alias, name = first.text, self._take(kind="name")
        arguments: dict[str, Any] = {}
        if self._is("("):
            self._take("(")
            while not self._is(")"):
                key = self._take(kind="name").text
                self._take(":")
                arguments[key] = self._value(const=False)
            self._take(")")
        selections = self._selections() if self._is("{") else ()
        return Field(name.text, alias, arguments, selections, first.line, first.column)

    def _value(self, *, const: bool) -> Any:
        token = self._peek()
        if token is None:
            raise self._fail("a value")
        if token.text == "$" and not const:
            self._take("$")
            return Variable(self._take(kind="name").text)
        if token.text == "[":
            self._take("[")
            items = []
            while not self._is("]"):
                items.append(self._value(const=const))
            self._take("]")
            return items
        if token.text == "{":
            self._take("{")
            fields: dict[str, Any] = {}
            while not self._is("}"):
                key = self._take(kind="name").text
                self._take(":")
                fields[key] = self._value(const=const)
            self._take("}")
            return fields
        self._at += 1
        if token.kind == "number":
            return float(token.text) if any(c in token.text for c in ".eE") else int(token.text)
        if token.kind == "string":
            return bytes(token.text[1:-1], "utf-8").decode("unicode_escape")
        if token.kind == "name":
            return {"true": True, "false": False, "null": None}.get(token.text, token.text)
        raise GraphQLError(f"Syntax Error: Unexpected {token.text!r}.", token.line, token.column)


def parse(text: str) -> Operation:
    return Parser(text).document()


def resolve(value: Any, variables: Mapping[str, Any]) -> Any:
    """An argument's value with every `$variable` replaced by what the request sent."""
    if isinstance(value, Variable):
        return variables.get(value.name)
    if isinstance(value, list):
        return [resolve(item, variables) for item in value]
    if isinstance(value, dict):
        return {key: resolve(item, variables) for key, item in value.items()}
    return value
