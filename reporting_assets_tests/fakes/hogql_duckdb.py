"""The PostHog fake's query engine: a subset of HogQL translated into DuckDB SQL over the fake's
`events` table, each function given ClickHouse's documented behaviour, each output column its
ClickHouse type name (for the response's `types`).

Understood: ``SELECT <expr [AS alias]>, ... FROM events | (<subquery>) [AS alias] [WHERE]
[GROUP BY] [HAVING] [ORDER BY ... [ASC|DESC]] [LIMIT n]`` (NULLS FIRST/LAST is read and, as
HogQL does, dropped: nulls sort last); expressions with
AND/OR/NOT, comparisons (also of tuples), IN (...), IS [NOT] NULL, + - * / %, literals,
``properties.<key>`` (PostHog's string-valued property access) and the functions in `FUNCTIONS`.
As in ClickHouse, a SELECT alias may be used in WHERE, GROUP BY and ORDER BY. Anything else is a
400 with PostHog's error code: a syntax error, an unknown field or an unsupported function.

The JSON functions follow ClickHouse's docs: a missing key, JSON null and text that is not
valid JSON all read as type 'Null' (extractions give '' or 0); non-negative integers within
Int64 are 'Int64', larger ones 'UInt64'. `toInt`/`toFloat` are PostHog's `accurateCastOrNull`:
a string that is not exactly a number, or a fraction cast to Int64, is null.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

EVENT_COLUMNS = {
    "uuid": "UUID",
    "event": "String",
    "distinct_id": "String",
    "timestamp": "DateTime64(6, 'UTC')",
    "properties": "String",
}
JSON_TYPE = (
    "Enum8('Null' = 0, 'String' = 34, 'Array' = 91, 'Object' = 123, 'Int64' = 105, "
    "'UInt64' = 117, 'Double' = 100, 'Bool' = 98)"
)

# DuckDB macros behind the JSON functions; `path` is a JSON path literal for one top-level key.
MACROS = (
    """CREATE OR REPLACE MACRO ch_json_type(j, path) AS CASE
        WHEN j IS NULL OR NOT json_valid(j) THEN 'Null'
        ELSE CASE json_type(j, path)
            WHEN 'VARCHAR' THEN 'String'
            WHEN 'BIGINT' THEN 'Int64'
            WHEN 'UBIGINT' THEN CASE WHEN TRY_CAST(json_extract_string(j, path) AS BIGINT)
                                     IS NULL THEN 'UInt64' ELSE 'Int64' END
            WHEN 'DOUBLE' THEN 'Double'
            WHEN 'BOOLEAN' THEN 'Bool'
            WHEN 'ARRAY' THEN 'Array'
            WHEN 'OBJECT' THEN 'Object'
            ELSE 'Null' END END""",
    """CREATE OR REPLACE MACRO ch_json_text(j, path) AS CASE
        WHEN j IS NULL OR NOT json_valid(j) THEN NULL ELSE json_extract_string(j, path) END""",
    """CREATE OR REPLACE MACRO ch_json_raw(j, path) AS CASE
        WHEN j IS NULL OR NOT json_valid(j) THEN ''
        ELSE coalesce(CAST(json_extract(j, path) AS VARCHAR), '') END""",
    """CREATE OR REPLACE MACRO ch_json_has(j, path) AS CASE
        WHEN j IS NULL OR NOT json_valid(j) THEN false ELSE json_exists(j, path) END""",
)


class HogQLError(Exception):
    """A query PostHog answers with HTTP 400; `code` is PostHog's error code."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def _syntax(detail: str) -> HogQLError:
    return HogQLError("hogql_syntax_error", f"Syntax error: {detail}")


def _query_error(detail: str) -> HogQLError:
    return HogQLError("hogql_query_error", detail)


# ------------------------------------------------------------------------------- tokens

_TOKEN = re.compile(
    r"(?P<ws>\s+)"
    r"|(?P<string>'(?:[^'\\]|\\.)*')"
    r"|(?P<quoted>`[^`]*`)"
    r"|(?P<number>\d+\.\d*(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|\d+|\.\d+(?:[eE][+-]?\d+)?)"
    r"|(?P<ident>[A-Za-z_$][A-Za-z0-9_$]*)"
    r"|(?P<op>>=|<=|!=|<>|==|=|<|>|\+|-|\*|/|%|\(|\)|,|\.)",
    re.DOTALL,
)
_ESCAPES = {
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "0": "\0",
    "b": "\b",
    "f": "\f",
    "a": "\a",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
}
KEYWORDS = frozenset(
    re.findall(
        r"\w+",
        "SELECT FROM WHERE GROUP BY HAVING ORDER ASC DESC LIMIT OFFSET AS AND OR NOT IN IS NULL "
        "TRUE FALSE NULLS FIRST LAST DISTINCT JOIN UNION WITH SETTINGS",
    )
)


@dataclass(frozen=True)
class Token:
    kind: str  # string, number, ident, keyword, op, end
    value: str  # unescaped for strings, upper-cased for keywords
    start: int
    end: int


def tokenize(query: str) -> list[Token]:
    tokens, pos = [], 0
    while pos < len(query):
        match = _TOKEN.match(query, pos)
        if match is None:
            raise _syntax(f"unexpected character {query[pos]!r} at position {pos}")
        kind, text = match.lastgroup, match.group()
        if kind == "string":
            text = re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], "\\" + m[1]), text[1:-1])
        elif kind == "quoted":
            kind, text = "ident", text[1:-1]
        elif kind == "ident" and text.upper() in KEYWORDS:
            kind, text = "keyword", text.upper()
        if kind != "ws":
            tokens.append(Token(kind, text, match.start(), match.end()))
        pos = match.end()
    tokens.append(Token("end", "", len(query), len(query)))
    return tokens


# ------------------------------------------------------------------------------- expressions


@dataclass(frozen=True)
class Expr:
    """DuckDB SQL for a HogQL expression, with its ClickHouse type (`nullable` apart)."""

    sql: str
    ch_type: str
    nullable: bool = False
    boolean: bool = False  # the SQL is a DuckDB BOOLEAN (a ClickHouse UInt8 0/1)
    aggregate: bool = False

    @property
    def type_name(self) -> str:
        return f"Nullable({self.ch_type})" if self.nullable else self.ch_type

    def value(self) -> str:
        """As a value: ClickHouse comparisons give UInt8 0/1, not a boolean."""
        return f"CAST({self.sql} AS UTINYINT)" if self.boolean else self.sql

    def condition(self) -> str:
        return self.sql if self.boolean else f"(({self.sql}) <> 0)"


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _json_path(key: Expr, function: str) -> str:
    if not key.sql.startswith("'") or key.ch_type != "String":
        raise _query_error(f"The fake supports only constant keys in {function}(...)")
    literal = key.sql[1:-1].replace("''", "'")
    return _sql_string('$."' + literal.replace("\\", "\\\\").replace('"', '\\"') + '"')


def _is_float(e: Expr) -> bool:
    return e.ch_type.startswith(("Float", "Decimal"))


def _numeric_type(*args: Expr) -> str:
    return "Float64" if any(_is_float(a) for a in args) else "Int64"


def _common(values: list[Expr]) -> tuple[str, bool]:
    """The branches' common type (the first that is not NULL's) and whether it is nullable."""
    known = [v for v in values if v.ch_type != "Nothing"]
    ch_type = known[0].ch_type if known else "Nothing"
    return ch_type, any(v.nullable or v.ch_type == "Nothing" for v in values)


def _arity(name: str, args: list[Expr], low: int, high: int | None = None) -> None:
    high = low if high is None else high
    if not (low <= len(args) <= (high if high >= 0 else len(args))):
        raise _query_error(
            f"Function '{name}' expects {low}"
            + ("" if high == low else f" to {high}" if high >= 0 else " or more")
            + f" arguments, got {len(args)}"
        )


def _json(kind: str) -> Callable[[list[Expr]], Expr]:
    def build(args: list[Expr]) -> Expr:
        name = f"JSON{kind}"
        _arity(name, args, 2)
        j, path = args[0].value(), _json_path(args[1], name)
        t = f"ch_json_type({j}, {path})"
        text = f"ch_json_text({j}, {path})"
        if kind == "Type":
            return Expr(t, JSON_TYPE)
        if kind == "ExtractString":
            return Expr(f"(CASE WHEN {t} = 'String' THEN {text} ELSE '' END)", "String")
        if kind == "ExtractRaw":
            return Expr(f"ch_json_raw({j}, {path})", "String")
        if kind == "Has":
            return Expr(f"ch_json_has({j}, {path})", "UInt8", boolean=True)
        if kind == "ExtractBool":
            return Expr(
                f"CAST((CASE WHEN {t} = 'Bool' AND {text} = 'true' THEN 1 ELSE 0 END) AS UTINYINT)",
                "UInt8",
            )
        target = {"ExtractInt": "BIGINT", "ExtractUInt": "UBIGINT", "ExtractFloat": "DOUBLE"}[kind]
        # Numbers convert (a fraction truncated for integers); booleans are 1 and 0; else 0.
        number = (
            f"TRY_CAST({text} AS {target})"
            if target == "DOUBLE"
            else f"TRY_CAST(trunc(TRY_CAST({text} AS DOUBLE)) AS {target})"
        )
        exact = f"TRY_CAST({text} AS {target})"
        sql = (
            f"coalesce(CASE WHEN {t} IN ('Int64', 'UInt64') THEN {exact} "
            f"WHEN {t} = 'Double' THEN {number} "
            f"WHEN {t} = 'Bool' THEN CAST(({text} = 'true') AS {target}) END, 0)"
        )
        ch_type = {"BIGINT": "Int64", "UBIGINT": "UInt64", "DOUBLE": "Float64"}[target]
        return Expr(f"CAST({sql} AS {target})", ch_type)

    return build


_INTEGER_TEXT = "^[+-]?[0-9]+$"
_FLOAT_TEXT = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$|^[+-]?(inf|nan)$"


def _to_int(args: list[Expr]) -> Expr:
    _arity("toInt", args, 1)
    x = args[0]
    if x.ch_type in ("String", "Nothing"):
        sql = (
            f"(CASE WHEN regexp_matches({x.sql}, '{_INTEGER_TEXT}') "
            f"THEN TRY_CAST({x.sql} AS BIGINT) END)"
        )
    elif _is_float(x):
        sql = f"(CASE WHEN {x.sql} = trunc({x.sql}) THEN TRY_CAST({x.sql} AS BIGINT) END)"
    else:
        sql = f"TRY_CAST({x.value()} AS BIGINT)"
    return Expr(sql, "Int64", nullable=True)


def _to_float(args: list[Expr]) -> Expr:
    _arity("toFloat", args, 1)
    x = args[0]
    if x.ch_type in ("String", "Nothing"):
        sql = (
            f"(CASE WHEN regexp_matches(lower({x.sql}), '{_FLOAT_TEXT}') "
            f"THEN TRY_CAST({x.sql} AS DOUBLE) END)"
        )
    else:
        sql = f"TRY_CAST({x.value()} AS DOUBLE)"
    return Expr(sql, "Float64", nullable=True)


def _literal_arg(name: str, arg: Expr) -> str:
    if not arg.sql.startswith("'"):
        raise _query_error(f"The fake supports only literal arguments to {name}(...)")
    return arg.sql[1:-1].replace("''", "'")


def _to_datetime(name: str) -> Callable[[list[Expr]], Expr]:
    def build(args: list[Expr]) -> Expr:
        _arity(name, args, 1, 3)
        text = _literal_arg(name, args[0])
        timezone = _literal_arg(name, args[-1]) if len(args) == 3 else "UTC"
        if timezone != "UTC":
            raise _query_error(f"The fake only supports UTC, got timezone {timezone!r}")
        return Expr(f"TRY_CAST({_sql_string(text)} AS TIMESTAMP)", "DateTime64(6, 'UTC')")

    return build


def _to_uuid(args: list[Expr]) -> Expr:
    _arity("toUUID", args, 1)
    return Expr(_sql_string(_literal_arg("toUUID", args[0]).lower()), "UUID")


def _if(args: list[Expr]) -> Expr:
    _arity("if", args, 3)
    ch_type, nullable = _common(args[1:])
    sql = f"(CASE WHEN {args[0].condition()} THEN {args[1].value()} ELSE {args[2].value()} END)"
    return Expr(sql, ch_type, nullable)


def _multi_if(args: list[Expr]) -> Expr:
    if len(args) < 3 or len(args) % 2 == 0:
        raise _query_error("Function 'multiIf' expects an odd number of arguments, at least 3")
    pairs = [(args[i], args[i + 1]) for i in range(0, len(args) - 1, 2)]
    ch_type, nullable = _common([v for _, v in pairs] + [args[-1]])
    whens = " ".join(f"WHEN {c.condition()} THEN {v.value()}" for c, v in pairs)
    return Expr(f"(CASE {whens} ELSE {args[-1].value()} END)", ch_type, nullable)


def _coalesce(args: list[Expr]) -> Expr:
    _arity("coalesce", args, 1, -1)
    ch_type, _ = _common(args)
    nullable = all(a.nullable or a.ch_type == "Nothing" for a in args)
    return Expr(f"coalesce({', '.join(a.value() for a in args)})", ch_type, nullable)


def _aggregate(name: str, args: list[Expr]) -> Expr:
    if name == "count":
        _arity(name, args, 0, 1)
        sql = "count(*)" if not args else f"count({args[0].value()})"
        return Expr(f"CAST({sql} AS UBIGINT)", "UInt64", aggregate=True)
    if name == "countIf":
        _arity(name, args, 1)
        return Expr(f"CAST(count_if({args[0].condition()}) AS UBIGINT)", "UInt64", aggregate=True)
    if name in ("uniqExact", "uniq"):
        _arity(name, args, 1)
        return Expr(f"CAST(count(DISTINCT {args[0].value()}) AS UBIGINT)", "UInt64", aggregate=True)
    if name in ("sum", "sumIf"):
        _arity(name, args, 1 if name == "sum" else 2)
        x = args[0]
        target = "DOUBLE" if _is_float(x) else "BIGINT"
        inner = (
            x.value() if name == "sum" else f"CASE WHEN {args[1].condition()} THEN {x.value()} END"
        )
        return Expr(
            f"CAST(coalesce(sum({inner}), 0) AS {target})", _numeric_type(x), aggregate=True
        )
    _arity(name, args, 1)  # min, max
    x = args[0]
    return Expr(f"{name}({x.value()})", x.ch_type, x.nullable, aggregate=True)


AGGREGATES = {"count", "countIf", "uniqExact", "uniq", "sum", "sumIf", "min", "max"}


def _scalar(sql_name: str, ch_type: str, arity: int) -> Callable[[list[Expr]], Expr]:
    def build(args: list[Expr]) -> Expr:
        _arity(sql_name, args, arity)
        nullable = any(a.nullable for a in args)
        return Expr(f"{sql_name}({', '.join(a.value() for a in args)})", ch_type, nullable)

    return build


FUNCTIONS: dict[str, Callable[[list[Expr]], Expr]] = {
    "JSONType": _json("Type"),
    "JSONHas": _json("Has"),
    "JSONExtractString": _json("ExtractString"),
    "JSONExtractRaw": _json("ExtractRaw"),
    "JSONExtractInt": _json("ExtractInt"),
    "JSONExtractUInt": _json("ExtractUInt"),
    "JSONExtractFloat": _json("ExtractFloat"),
    "JSONExtractBool": _json("ExtractBool"),
    "isValidJSON": lambda a: Expr(
        f"coalesce(json_valid({a[0].value()}), false)", "UInt8", boolean=True
    ),
    "toInt": _to_int,
    "toFloat": _to_float,
    "toString": lambda a: Expr(f"CAST({a[0].value()} AS VARCHAR)", "String", a[0].nullable),
    "toUUID": _to_uuid,
    "toDateTime64": _to_datetime("toDateTime64"),
    "toDateTime": _to_datetime("toDateTime"),
    "lower": _scalar("lower", "String", 1),
    "upper": _scalar("upper", "String", 1),
    "if": _if,
    "multiIf": _multi_if,
    "coalesce": _coalesce,
    "isNull": lambda a: Expr(f"({a[0].value()} IS NULL)", "UInt8", boolean=True),
    "isNotNull": lambda a: Expr(f"({a[0].value()} IS NOT NULL)", "UInt8", boolean=True),
}
# HogQL's case-insensitive names (posthog/hogql/functions/mapping.py: case_sensitive=False).
CASE_INSENSITIVE = {"if": "if", "coalesce": "coalesce", "isnull": "isNull"}


# ------------------------------------------------------------------------------- queries


@dataclass(frozen=True)
class Column:
    name: str
    expr: Expr


@dataclass(frozen=True)
class Translated:
    sql: str
    columns: list[Column]
    limit: int | None


class _Parser:
    """Recursive descent over the tokens of one SELECT (subqueries recurse)."""

    def __init__(self, query: str, tokens: list[Token]):
        self.query = query
        self.tokens = tokens
        self.pos = 0
        self.scope: dict[str, Expr] = {}  # the FROM's columns
        self.aliases: dict[str, Expr] = {}  # the SELECT's aliases

    # -- token helpers
    def peek(self, offset: int = 0) -> Token:
        return self.tokens[min(self.pos + offset, len(self.tokens) - 1)]

    def take(self) -> Token:
        token = self.peek()
        self.pos += 1
        return token

    def at(self, kind: str, *values: str) -> bool:
        token = self.peek()
        return token.kind == kind and (not values or token.value in values)

    def accept(self, kind: str, *values: str) -> Token | None:
        return self.take() if self.at(kind, *values) else None

    def expect(self, kind: str, *values: str) -> Token:
        if not self.at(kind, *values):
            token = self.peek()
            found = token.value or "end of query"
            raise _syntax(
                f"expected {' or '.join(values) or kind}, found {found!r} at {token.start}"
            )
        return self.take()

    def keyword(self, *words: str) -> bool:
        if all(
            self.peek(i).kind == "keyword" and self.peek(i).value == w for i, w in enumerate(words)
        ):
            self.pos += len(words)
            return True
        return False

    # -- SELECT
    def select(self) -> Translated:
        self.expect("keyword", "SELECT")
        if self.keyword("DISTINCT"):
            raise _query_error("The fake does not support SELECT DISTINCT")
        items = self._select_item_spans()
        self.expect("keyword", "FROM")
        source = self._from()
        columns = []
        for start, end, alias in items:
            expr = _Parser(self.query, [*self.tokens[start:end], Token("end", "", 0, 0)])
            expr.scope, expr.aliases = self.scope, self.aliases
            value = expr.expression()
            expr.expect("end")
            name = alias or re.sub(
                r"\s+", " ", self.query[self.tokens[start].start : self.tokens[end - 1].end]
            )
            columns.append(Column(name, value))
            if alias:
                self.aliases[alias] = value
        sql = "SELECT " + ", ".join(
            f'{c.expr.value()} AS "{c.name.replace(chr(34), chr(34) * 2)}"' for c in columns
        )
        sql += f" FROM {source}"
        if self.keyword("WHERE"):
            sql += f" WHERE {self.expression().condition()}"
        if self.keyword("GROUP", "BY"):
            sql += " GROUP BY " + ", ".join(e.value() for e in self._list())
        if self.keyword("HAVING"):
            sql += f" HAVING {self.expression().condition()}"
        if self.keyword("ORDER", "BY"):
            terms = []
            while True:
                term = self.expression().value()
                if self.keyword("DESC"):
                    term += " DESC"
                else:
                    self.keyword("ASC")
                # HogQL parses NULLS FIRST/LAST and drops it: ClickHouse's default, nulls last.
                if not self.keyword("NULLS", "FIRST"):
                    self.keyword("NULLS", "LAST")
                terms.append(term + " NULLS LAST")
                if not self.accept("op", ","):
                    break
            sql += " ORDER BY " + ", ".join(terms)
        limit = None
        if self.keyword("LIMIT"):
            limit = int(self.expect("number").value)
        if self.at("keyword", "OFFSET"):
            raise HogQLError("hogql_query_error", OFFSET_NOT_ALLOWED_DETAIL)
        return Translated(sql, columns, limit)

    def _select_item_spans(self) -> list[tuple[int, int, str | None]]:
        """Each select item's token span (to translate once FROM is known) and its alias."""
        items, depth, start = [], 0, self.pos
        while True:
            token = self.peek()
            if token.kind == "end":
                raise _syntax("expected FROM")
            if token.kind == "op" and token.value == "(":
                depth += 1
            elif token.kind == "op" and token.value == ")":
                depth -= 1
            if depth == 0 and (
                (token.value == "," and token.kind == "op")
                or (token.kind == "keyword" and token.value == "FROM")
            ):
                end, alias = self.pos, None
                if (
                    end - start >= 3
                    and self.tokens[end - 2].kind == "keyword"
                    and self.tokens[end - 2].value == "AS"
                ):
                    alias, end = self.tokens[end - 1].value, end - 2
                if end <= start:
                    raise _syntax(f"empty select item at {token.start}")
                items.append((start, end, alias))
                if token.value == "FROM":
                    return items
                self.pos += 1
                start = self.pos
                continue
            self.pos += 1

    def _from(self) -> str:
        if self.accept("op", "("):
            depth, start = 1, self.pos
            while depth:
                token = self.take()
                if token.kind == "end":
                    raise _syntax("unbalanced parentheses")
                depth += {"(": 1, ")": -1}.get(token.value, 0) if token.kind == "op" else 0
            inner = _Parser(
                self.query, [*self.tokens[start : self.pos - 1], Token("end", "", 0, 0)]
            )
            sub = inner.select()
            inner.expect("end")
            sub_sql = sub.sql if sub.limit is None else f"{sub.sql} LIMIT {sub.limit}"
            self.scope = {
                c.name: Expr(f'"{c.name}"', c.expr.ch_type, c.expr.nullable) for c in sub.columns
            }
            alias = self._table_alias() or "subquery"
            return f'({sub_sql}) AS "{alias}"'
        table = self.expect("ident")
        if table.value != "events":
            raise _query_error(f'Unknown table "{table.value}".')
        self.scope = {name: Expr(name, t) for name, t in EVENT_COLUMNS.items()}
        alias = self._table_alias()
        return "events" + (f' AS "{alias}"' if alias else "")

    def _table_alias(self) -> str | None:
        if self.keyword("AS"):
            return self.expect("ident").value
        if self.at("ident"):
            return self.take().value
        if self.at("keyword", "JOIN", "UNION"):
            raise _query_error("The fake does not support JOIN or UNION")
        return None

    def _list(self) -> list[Expr]:
        items = [self.expression()]
        while self.accept("op", ","):
            items.append(self.expression())
        return items

    # -- expressions, loosest binding first
    def expression(self) -> Expr:
        left = self._and()
        while self.keyword("OR"):
            right = self._and()
            left = Expr(f"({left.condition()} OR {right.condition()})", "UInt8", boolean=True)
        return left

    def _and(self) -> Expr:
        left = self._not()
        while self.keyword("AND"):
            right = self._not()
            left = Expr(f"({left.condition()} AND {right.condition()})", "UInt8", boolean=True)
        return left

    def _not(self) -> Expr:
        if self.keyword("NOT"):
            inner = self._not()
            return Expr(f"(NOT {inner.condition()})", "UInt8", boolean=True)
        return self._comparison()

    def _comparison(self) -> Expr:
        left = self._additive()
        if self.at("op", "=", "==", "!=", "<>", "<", "<=", ">", ">="):
            op = {"==": "=", "<>": "!="}.get(self.peek().value, self.peek().value)
            self.take()
            right = self._additive()
            return Expr(f"({left.value()} {op} {right.value()})", "UInt8", boolean=True)
        negate = self.keyword("NOT")
        if self.keyword("IN"):
            self.expect("op", "(")
            values = self._list()
            self.expect("op", ")")
            inside = ", ".join(v.value() for v in values)
            return Expr(
                f"({left.value()} {'NOT ' if negate else ''}IN ({inside}))", "UInt8", boolean=True
            )
        if negate:
            raise _syntax(f"expected IN after NOT at {self.peek().start}")
        if self.keyword("IS"):
            negate = self.keyword("NOT")
            self.expect("keyword", "NULL")
            return Expr(
                f"({left.value()} IS {'NOT ' if negate else ''}NULL)", "UInt8", boolean=True
            )
        return left

    def _additive(self) -> Expr:
        left = self._multiplicative()
        while self.at("op", "+", "-"):
            op = self.take().value
            right = self._multiplicative()
            nullable = left.nullable or right.nullable
            sql = f"({left.value()} {op} {right.value()})"
            left = Expr(sql, _numeric_type(left, right), nullable)
        return left

    def _multiplicative(self) -> Expr:
        left = self._unary()
        while self.at("op", "*", "/", "%"):
            op = self.take().value
            right = self._unary()
            ch_type = "Float64" if op == "/" else _numeric_type(left, right)
            sql = (
                f"(CAST({left.value()} AS DOUBLE) / {right.value()})"
                if op == "/"
                else f"({left.value()} {op} {right.value()})"
            )
            left = Expr(sql, ch_type, left.nullable or right.nullable)
        return left

    def _unary(self) -> Expr:
        if self.accept("op", "-"):
            inner = self._unary()
            ch_type = "Int64" if inner.ch_type.startswith("UInt") else inner.ch_type
            return Expr(f"(-{inner.value()})", ch_type, inner.nullable)
        return self._primary()

    def _primary(self) -> Expr:
        token = self.take()
        if token.kind == "number":
            is_int = re.fullmatch(r"\d+", token.value) is not None
            return Expr(token.value, "UInt64" if is_int else "Float64")
        if token.kind == "string":
            return Expr(_sql_string(token.value), "String")
        if token.kind == "keyword" and token.value == "NULL":
            return Expr("NULL", "Nothing", nullable=True)
        if token.kind == "keyword" and token.value in ("TRUE", "FALSE"):
            return Expr(token.value.lower(), "Bool")
        if token.kind == "op" and token.value == "(":
            if self.at("keyword", "SELECT"):
                raise _query_error("The fake does not support subqueries in expressions")
            items = self._list()
            self.expect("op", ")")
            if len(items) == 1:
                return items[0]
            return Expr("(" + ", ".join(i.value() for i in items) + ")", "Tuple")
        if token.kind == "ident":
            if self.accept("op", "("):
                args = [] if self.at("op", ")") else self._list()
                self.expect("op", ")")
                return self._call(token.value, args)
            return self._field(token)
        raise _syntax(f"unexpected {token.value or 'end of query'!r} at {token.start}")

    def _call(self, name: str, args: list[Expr]) -> Expr:
        name = CASE_INSENSITIVE.get(name.lower(), name)
        if name in AGGREGATES:
            return _aggregate(name, args)
        if name not in FUNCTIONS:
            raise _query_error(f"Unsupported function call '{name}(...)'")
        return FUNCTIONS[name](args)

    def _field(self, token: Token) -> Expr:
        name = token.value
        if name == "properties" and self.accept("op", "."):
            key = self.take()
            if key.kind not in ("ident", "keyword", "number"):
                raise _syntax(f"expected a property name at {key.start}")
            return self._property(
                key.value if key.kind != "keyword" else self.query[key.start : key.end]
            )
        if self.at("op", ".") and self.peek(1).kind == "ident":
            # table.column: the one table in scope
            self.take()
            name = self.take().value
        if name in self.scope:
            return self.scope[name]
        if name in self.aliases:
            return self.aliases[name]
        raise _query_error(f"Unable to resolve field: {name}")

    def _property(self, key: str) -> Expr:
        """`properties.key`, printed by PostHog as the raw JSON text with quotes stripped, null
        for a missing key or JSON null: a string whatever the JSON type."""
        if "properties" not in self.scope:
            raise _query_error("Unable to resolve field: properties")
        path = _json_path(Expr(_sql_string(key), "String"), "properties")
        raw = f"ch_json_raw({self.scope['properties'].sql}, {path})"
        sql = f"regexp_replace(nullif(nullif({raw}, ''), 'null'), '^\"|\"$', '', 'g')"
        return Expr(sql, "String", nullable=True)


OFFSET_NOT_ALLOWED_DETAIL = (
    "OFFSET is not supported on queries made with a personal API key. For pagination, use "
    "keyset pagination on the `timestamp` column, e.g. `WHERE timestamp > :last_seen_timestamp "
    "ORDER BY timestamp LIMIT N`. For bulk data extraction, use batch exports: "
    "https://posthog.com/docs/cdp/batch-exports"
)


def translate(query: str) -> Translated:
    """The DuckDB SQL for a HogQL SELECT over `events` (without its LIMIT), its columns, and
    the LIMIT it asked for (None when it has none)."""
    tokens = tokenize(query)
    if any(t.kind == "keyword" and t.value == "OFFSET" for t in tokens):
        raise HogQLError("hogql_query_error", OFFSET_NOT_ALLOWED_DETAIL)
    parser = _Parser(query, tokens)
    translated = parser.select()
    parser.expect("end")
    return translated
