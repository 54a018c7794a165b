"""A parser for the subset of SOQL the connector uses, producing a small AST.

Supported: ``SELECT`` field lists with parent paths (``Account.Industry``), ``COUNT()``, child
subqueries ``(SELECT … FROM OpportunityHistories …)``; ``WHERE`` with ``AND``/``OR``/``NOT`` and
parentheses (mixing ``AND`` and ``OR`` without parentheses is an error, as in Salesforce),
``= != <> < <= > >=``, ``[NOT] IN (…)``, ``LIKE``; literals: strings, numbers, ``true``/``false``,
``null``, dates, datetimes and relative date literals (``LAST_N_DAYS:30``); ``ORDER BY`` with
``ASC``/``DESC`` and ``NULLS FIRST|LAST``; ``LIMIT``; ``OFFSET``. Anything else raises
:class:`SoqlError` with Salesforce's ``MALFORMED_QUERY`` code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

__all__ = [
    "BoolOp",
    "Compare",
    "Condition",
    "Literal",
    "Not",
    "OrderItem",
    "Query",
    "SoqlError",
    "parse_soql",
]


class SoqlError(Exception):
    """A query Salesforce would refuse; ``code`` is the REST ``errorCode``."""

    def __init__(self, message: str, code: str = "MALFORMED_QUERY") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Literal:
    """A literal value: kind is string, number, boolean, null, date, datetime or relative."""

    kind: str
    value: Any


@dataclass(frozen=True)
class Compare:
    """``path op value``; op is one of = != < <= > >= IN NOT_IN LIKE (values is a tuple for IN)."""

    path: tuple[str, ...]
    op: str
    value: Literal | tuple[Literal, ...]


@dataclass(frozen=True)
class BoolOp:
    op: str  # AND | OR
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    item: Condition


Condition = Compare | BoolOp | Not


@dataclass(frozen=True)
class OrderItem:
    path: tuple[str, ...]
    descending: bool = False
    nulls_last: bool = False


@dataclass
class Query:
    object: str
    fields: list[tuple[str, ...]] = field(default_factory=list)
    subqueries: list[Query] = field(default_factory=list)
    count: bool = False
    where: Condition | None = None
    order: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
    | (?P<date>\d{4}-\d{2}-\d{2})(?![\w:])
    | (?P<number>-?\d+(?:\.\d+)?)(?![\w.])
    | (?P<string>'(?:[^'\\]|\\.)*')
    | (?P<relative>[A-Za-z_]+:-?\d+)
    | (?P<name>[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*)
    | (?P<op>!=|<>|<=|>=|=|<|>)
    | (?P<punct>[(),])
    )""",
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "'": "'", '"': '"', "\\": "\\"}
_KEYWORDS = {
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "IN",
    "LIKE",
    "ORDER",
    "BY",
    "LIMIT",
    "OFFSET",
    "ASC",
    "DESC",
    "NULLS",
    "FIRST",
    "LAST",
    "NULL",
    "TRUE",
    "FALSE",
    "COUNT",
}


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        if not text[position:].strip():
            break
        match = _TOKEN.match(text, position)
        if match is None or match.lastgroup is None:
            snippet = text[position : position + 20].strip()
            raise SoqlError(f"unexpected token: '{snippet}'")
        tokens.append((match.lastgroup, match.group(match.lastgroup)))
        position = match.end()
    return tokens


def _unquote(raw: str) -> str:
    body = raw[1:-1]
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), body)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.pos = 0

    def peek(self, offset: int = 0) -> tuple[str, str] | None:
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def keyword(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and token[0] == "name" and token[1].upper() in words

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise SoqlError("unexpected end of query")
        self.pos += 1
        return token

    def expect_keyword(self, word: str) -> None:
        if not self.keyword(word):
            got = self.peek()
            raise SoqlError(f"expecting '{word}', found '{got[1] if got else 'EOF'}'")
        self.pos += 1

    def expect_punct(self, char: str) -> None:
        token = self.take()
        if token != ("punct", char):
            raise SoqlError(f"expecting '{char}', found '{token[1]}'")

    def path(self) -> tuple[str, ...]:
        kind, text = self.take()
        if kind != "name" or text.upper() in _KEYWORDS - {"FIRST", "LAST"}:
            raise SoqlError(f"unexpected token: '{text}'")
        return tuple(text.split("."))

    def query(self, *, nested: bool = False) -> Query:
        self.expect_keyword("SELECT")
        result = Query(object="")
        while True:
            if self.peek() == ("punct", "("):
                if nested:
                    raise SoqlError("nested subqueries are not supported")
                self.take()
                result.subqueries.append(self.query(nested=True))
                self.expect_punct(")")
            elif self.keyword("COUNT") and self.peek(1) == ("punct", "("):
                self.pos += 2
                self.expect_punct(")")
                result.count = True
            else:
                result.fields.append(self.path())
            if self.peek() != ("punct", ","):
                break
            self.take()
        self.expect_keyword("FROM")
        result.object = ".".join(self.path())
        if self.keyword("WHERE"):
            self.take()
            result.where = self.condition()
        if self.keyword("ORDER"):
            self.take()
            self.expect_keyword("BY")
            result.order = self.order_list()
        if self.keyword("LIMIT"):
            self.take()
            result.limit = self.integer("LIMIT")
        if self.keyword("OFFSET"):
            self.take()
            result.offset = self.integer("OFFSET")
        if result.count and (result.fields or result.subqueries):
            raise SoqlError("COUNT() cannot be combined with other fields")
        return result

    def integer(self, clause: str) -> int:
        kind, text = self.take()
        if kind != "number" or not text.isdigit():
            raise SoqlError(f"{clause} must be a non-negative integer, found '{text}'")
        return int(text)

    def order_list(self) -> list[OrderItem]:
        items = []
        while True:
            path = self.path()
            descending = False
            if self.keyword("ASC", "DESC"):
                descending = self.take()[1].upper() == "DESC"
            nulls_last = descending
            if self.keyword("NULLS"):
                self.take()
                if not self.keyword("FIRST", "LAST"):
                    raise SoqlError("expecting FIRST or LAST after NULLS")
                nulls_last = self.take()[1].upper() == "LAST"
            items.append(OrderItem(path, descending, nulls_last))
            if self.peek() != ("punct", ","):
                return items
            self.take()

    def condition(self) -> Condition:
        items = [self.unary()]
        joiner: str | None = None
        while self.keyword("AND", "OR"):
            word = self.take()[1].upper()
            if joiner is not None and word != joiner:
                raise SoqlError(f"unexpected token: '{word}' (use parentheses to mix AND and OR)")
            joiner = word
            items.append(self.unary())
        return items[0] if joiner is None else BoolOp(joiner, tuple(items))

    def unary(self) -> Condition:
        if self.keyword("NOT"):
            self.take()
            return Not(self.unary())
        if self.peek() == ("punct", "("):
            self.take()
            inner = self.condition()
            self.expect_punct(")")
            return inner
        return self.comparison()

    def comparison(self) -> Condition:
        path = self.path()
        if self.keyword("NOT"):
            self.take()
            self.expect_keyword("IN")
            return Compare(path, "NOT_IN", self.value_list())
        if self.keyword("IN"):
            self.take()
            return Compare(path, "IN", self.value_list())
        if self.keyword("LIKE"):
            self.take()
            value = self.literal()
            if value.kind != "string":
                raise SoqlError("LIKE needs a quoted string pattern")
            return Compare(path, "LIKE", value)
        kind, op = self.take()
        if kind != "op":
            raise SoqlError(f"unexpected token: '{op}'")
        return Compare(path, "!=" if op == "<>" else op, self.literal())

    def value_list(self) -> tuple[Literal, ...]:
        self.expect_punct("(")
        if self.keyword("SELECT"):
            raise SoqlError("semi-join subqueries are not supported by the sandbox")
        values = [self.literal()]
        while self.peek() == ("punct", ","):
            self.take()
            values.append(self.literal())
        self.expect_punct(")")
        return tuple(values)

    def literal(self) -> Literal:
        kind, text = self.take()
        if kind == "string":
            return Literal("string", _unquote(text))
        if kind == "number":
            return Literal("number", float(text) if "." in text else int(text))
        if kind == "date":
            return Literal("date", date.fromisoformat(text))
        if kind == "datetime":
            stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
            return Literal("datetime", stamp.astimezone(UTC))
        if kind == "relative":
            name, _, number = text.partition(":")
            return Literal("relative", (name.upper(), int(number)))
        if kind == "name":
            upper = text.upper()
            if upper in {"TRUE", "FALSE"}:
                return Literal("boolean", upper == "TRUE")
            if upper == "NULL":
                return Literal("null", None)
            if "." not in text:
                return Literal("relative", (upper, None))
        raise SoqlError(f"unexpected token: '{text}'")


def parse_soql(text: str) -> Query:
    """Parse ``text`` into a :class:`Query`, or raise :class:`SoqlError`."""
    parser = _Parser(text)
    query = parser.query()
    if parser.peek() is not None:
        raise SoqlError(f"unexpected token: '{parser.peek()[1]}'")  # type: ignore[index]
    return query
