"""The rule language: a condition over an event, its features, the model's score and lists.

    amount > 500 and country in ["NG", "RU"] and device_is_new == 1
    device_id in list "bad-devices" or ip_address in list "proxy-ranges"
    probability > 0.2 and attributes["browser"] == "headless"
    account_age_days < 1 and amount between 100 and 1000
    merchant_id is null

Conditions are parsed by a grammar (lark) and checked against the names the product knows
before they are stored; nothing is ever handed to `eval`. There is no attribute access and
no call: a name is a field, a feature, `probability`, `risk_score` or `model_tier`, and
`attributes["key"]` is the only subscript.

Logic is three-valued, as in SQL: a comparison with a missing value is unknown, `not`
of unknown is unknown, and a rule hits only when its condition is true. So an absent
field never fires a rule by accident; `is null` asks about absence on purpose.

Each checked condition compiles twice from the same tree: a closure for one event (the
/score path) and a numpy function over columns (batches and backtests); a test holds the
two to the same answers. Grammar, checks and both compilers stay in this one module (past
500 lines) for that reason: a change to the language touches all of them at once.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd
from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

# What a name holds: numbers, strings, or either (attributes are whatever the sender sent).
NUM, STR, ANY = "number", "text", "any"

EVENT_FIELDS: dict[str, str] = {
    "account_id": STR, "event_type": STR, "currency": STR, "payment_status": STR, "device_id": STR,
    "ip_address": STR, "country": STR, "merchant_id": STR, "category": STR,
    "amount": NUM, "latitude": NUM, "longitude": NUM, "session_duration": NUM,
}
MODEL_FIELDS: dict[str, str] = {"probability": NUM, "risk_score": NUM, "model_tier": STR}
MAX_CONDITION_CHARS = 2000

_GRAMMAR = r"""
    start: expr
    ?expr: and_expr
         | expr _OR and_expr                       -> or_
    ?and_expr: not_expr
         | and_expr _AND not_expr                  -> and_
    ?not_expr: _NOT not_expr                       -> not_
         | predicate
    ?predicate: sum
         | sum COMPARE sum                         -> compare
         | sum _IN "[" [literal ("," literal)*] "]"       -> in_values
         | sum _NOT _IN "[" [literal ("," literal)*] "]"  -> not_in_values
         | sum _IN _LIST STRING                    -> in_list
         | sum _NOT _IN _LIST STRING               -> not_in_list
         | sum _IS _NULL                           -> is_null
         | sum _IS _NOT _NULL                      -> is_not_null
         | sum _BETWEEN sum _AND sum               -> between
    ?sum: product
         | sum ADD_OP product                      -> arith
    ?product: unary
         | product MUL_OP unary                    -> arith
    ?unary: "-" unary                              -> neg
         | atom
    ?atom: literal
         | NAME "[" STRING "]"                     -> subscript
         | NAME                                    -> name
         | "(" expr ")"
    ?literal: NUMBER                               -> number
         | STRING                                  -> string
         | _TRUE                                   -> true
         | _FALSE                                  -> false

    _OR: "or"i
    _AND: "and"i
    _NOT: "not"i
    _IN: "in"i
    _LIST: "list"i
    _IS: "is"i
    _NULL: "null"i
    _BETWEEN: "between"i
    _TRUE: "true"i
    _FALSE: "false"i
    COMPARE: "==" | "!=" | "<=" | ">=" | "<" | ">"
    ADD_OP: "+" | "-"
    MUL_OP: "*" | "/"
    NAME: /[a-z_][a-z0-9_]*/i
    NUMBER: /\d+(\.\d+)?([eE][+-]?\d+)?/
    STRING: /"(?:[^"\\\n]|\\.)*"/ | /'(?:[^'\\\n]|\\.)*'/
    %ignore /[ \t\r\n]+/
"""
_PARSER = Lark(_GRAMMAR, parser="lalr", propagate_positions=True, maybe_placeholders=False)

# Words a reader sees instead of lark's terminal names.
_TOKEN_WORDS = {
    "_OR": "or", "_AND": "and", "_NOT": "not", "_IN": "in", "_LIST": "list", "_IS": "is", "_NULL": "null",
    "_BETWEEN": "between", "_TRUE": "true", "_FALSE": "false", "COMPARE": "a comparison (==, !=, <, <=, >, >=)",
    "ADD_OP": "+ or -", "MUL_OP": "* or /", "NAME": "a name", "NUMBER": "a number", "STRING": "a quoted text",
    "LSQB": "[", "RSQB": "]", "LPAR": "(", "RPAR": ")", "COMMA": ",", "MINUS": "-", "$END": "the end",
}


class RuleSyntaxError(ValueError):
    """A condition that is not the language, or names something unknown, with where."""

    def __init__(self, message: str, position: int, source: str):
        self.message, self.position, self.source = message, position, source
        super().__init__(f"{message} (at character {position + 1})")

    @property
    def pointer(self) -> str:
        """The condition's line with a caret under the problem, for a fixed-width display."""
        line_start = self.source.rfind("\n", 0, self.position) + 1
        line_end = self.source.find("\n", self.position)
        line = self.source[line_start: None if line_end < 0 else line_end]
        return f"{line}\n{' ' * (self.position - line_start)}^"

    def as_dict(self) -> dict[str, Any]:
        return {"message": self.message, "position": self.position, "pointer": self.pointer}


@dataclass(frozen=True)
class Vocabulary:
    """The names a condition may use and the lists it may name."""

    names: Mapping[str, str]
    lists: frozenset[str] = frozenset()

    @classmethod
    def default(cls, lists: Iterable[str] = ()) -> "Vocabulary":
        from ml.features import FEATURE_NAMES

        names = {**EVENT_FIELDS, **{name: NUM for name in FEATURE_NAMES}, **MODEL_FIELDS}
        return cls(names=names, lists=frozenset(lists))


@dataclass(frozen=True)
class Condition:
    """A checked condition: its text, what it reads, and its two compiled forms."""

    source: str
    names: frozenset[str]          # fields, features and model values it reads
    attributes: frozenset[str]     # keys of attributes[...] it reads
    lists: frozenset[str]          # lists it names
    one: Callable[[Callable[[str], Any], Callable[[str, Any], bool | None]], bool | None]
    many: Callable[[Mapping[str, np.ndarray], Callable[[str, np.ndarray], np.ndarray], int], np.ndarray]

    def hits(self, get: Callable[[str], Any], member: Callable[[str, Any], bool | None]) -> bool:
        return self.one(get, member) is True

    def hits_many(self, columns: Mapping[str, np.ndarray], member_many: Callable[[str, np.ndarray], np.ndarray], n: int) -> np.ndarray:
        return self.many(columns, member_many, n) == 1.0


def parse(source: str, vocabulary: Vocabulary) -> Condition:
    """Parse and check a condition; RuleSyntaxError says what is wrong and where."""
    if not isinstance(source, str) or not source.strip():
        raise RuleSyntaxError("write a condition, e.g. amount > 500", 0, source or "")
    if len(source) > MAX_CONDITION_CHARS:
        raise RuleSyntaxError(f"a condition is at most {MAX_CONDITION_CHARS} characters", MAX_CONDITION_CHARS, source)
    try:
        tree = _PARSER.parse(source)
    except UnexpectedInput as exc:
        raise _syntax_error(exc, source) from None
    checker = _Checker(source, vocabulary)
    kind = checker.check(tree.children[0])
    if kind != "bool":
        raise RuleSyntaxError("a condition must be true or false: compare it, e.g. amount > 500", 0, source)
    return Condition(
        source=source, names=frozenset(checker.names), attributes=frozenset(checker.attributes),
        lists=frozenset(checker.lists), one=_compile_one(tree.children[0]), many=_compile_many(tree.children[0]),
    )


def _syntax_error(exc: UnexpectedInput, source: str) -> RuleSyntaxError:
    position = max(0, min(getattr(exc, "pos_in_stream", None) or 0, len(source)))
    if isinstance(exc, UnexpectedCharacters):
        char = source[position] if position < len(source) else ""
        hint = " (write texts in quotes, and use and / or / not instead of symbols)" if char in "&|!=.'\"" else ""
        if char == ".":
            hint = " (there is no attribute access: use attributes[\"key\"] for a sent attribute)"
        return RuleSyntaxError(f"unexpected character {char!r}{hint}", position, source)
    if isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END"):
        return RuleSyntaxError("the condition stops too early: something is missing at the end", len(source.rstrip()), source)
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        # Words first, then symbols: "expected a name, a number, (".
        expected = sorted({_TOKEN_WORDS.get(t, t.lower()) for t in exc.expected if not t.startswith("__")},
                          key=lambda word: (not word[:1].isalpha(), word))
        if token.type == "LPAR" and position > 0 and re.match(r"[a-z_0-9]", source[position - 1], re.I):
            return RuleSyntaxError("there are no function calls in a condition", position, source)
        what = repr(str(token))
        tail = f"; expected {', '.join(expected[:6])}" if expected else ""
        return RuleSyntaxError(f"unexpected {what}{tail}", token.start_pos if token.start_pos is not None else position, source)
    return RuleSyntaxError("not a condition", position, source)


def _position(node: Tree | Token) -> int:
    if isinstance(node, Token):
        return node.start_pos or 0
    meta = node.meta
    return 0 if meta.empty else meta.start_pos


def _text(token: Token) -> str:
    raw = str(token)[1:-1]
    return re.sub(r"\\(.)", r"\1", raw)


class _Checker:
    """Types every node ("number", "text", "any", "bool") and refuses what cannot mean anything."""

    def __init__(self, source: str, vocabulary: Vocabulary):
        self.source, self.vocabulary = source, vocabulary
        self.names: set[str] = set()
        self.attributes: set[str] = set()
        self.lists: set[str] = set()

    def fail(self, message: str, node: Tree | Token) -> None:
        raise RuleSyntaxError(message, _position(node), self.source)

    def check(self, node: Tree | Token) -> str:
        kind = node.data
        if kind == "number":
            value = float(node.children[0])
            if not math.isfinite(value):
                self.fail("number out of range", node)
            return NUM
        if kind == "string":
            return STR
        if kind in ("true", "false"):
            return NUM  # true is 1 and false 0, as the yes/no features store them
        if kind == "name":
            name = str(node.children[0])
            if name.lower() in ("attributes", "list", "null"):
                self.fail(f"{name} needs more: attributes[\"key\"], in list \"name\", is null", node)
            if name not in self.vocabulary.names:
                self.fail(f"unknown name {name!r}{_suggest(name, self.vocabulary.names)}", node)
            self.names.add(name)
            return self.vocabulary.names[name]
        if kind == "subscript":
            name, key = node.children
            if str(name) != "attributes":
                self.fail(f"only attributes[\"key\"] can be indexed, not {name}", node)
            self.attributes.add(_text(key))
            return ANY
        if kind == "neg":
            self._want(node.children[0], NUM, "only a number can be negative")
            return NUM
        if kind == "arith":
            left, op, right = node.children
            self._want(left, NUM, f"{op} works on numbers")
            self._want(right, NUM, f"{op} works on numbers")
            return NUM
        if kind == "compare":
            left, op, right = node.children
            a, b = self._value(left), self._value(right)
            if STR in (a, b) and NUM in (a, b):
                self.fail("a text cannot be compared with a number", node)
            if op not in ("==", "!=") and STR in (a, b):
                self.fail(f"{op} compares numbers; texts are compared with == or !=", right)
            return "bool"
        if kind in ("in_values", "not_in_values"):
            subject, *values = node.children
            a = self._value(subject)
            if not values:
                self.fail("the list of values is empty", node)
            for value in values:
                b = self.check(value)
                if ANY not in (a, b) and a != b:
                    self.fail(f"a {b} among the values of a {a}", value)
            return "bool"
        if kind in ("in_list", "not_in_list"):
            subject, name = node.children
            self._value(subject)
            list_name = _text(name)
            if list_name not in self.vocabulary.lists:
                self.fail(f"no list named {list_name!r}{_suggest(list_name, self.vocabulary.lists)}", name)
            self.lists.add(list_name)
            return "bool"
        if kind in ("is_null", "is_not_null"):
            self._value(node.children[0])
            return "bool"
        if kind == "between":
            for child in node.children:
                self._want(child, NUM, "between works on numbers")
            return "bool"
        if kind in ("and_", "or_", "not_"):
            for child in node.children:
                if self.check(child) != "bool":
                    self.fail("and / or / not join conditions: compare this, e.g. amount > 500", child)
            return "bool"
        self.fail("not part of the language", node)
        return ""

    def _value(self, node: Tree) -> str:
        kind = self.check(node)
        if kind == "bool":
            self.fail("a condition cannot be compared: join conditions with and / or", node)
        return kind

    def _want(self, node: Tree, want: str, message: str) -> None:
        kind = self._value(node)
        if kind not in (want, ANY):
            self.fail(message, node)


def _suggest(name: str, known: Iterable[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.7)
    return f"; did you mean {close[0]!r}?" if close else ""


# ---- one event -------------------------------------------------------------------------
# Values: numbers are float, texts str, missing None; truth is True / False / None (unknown).

def _num(value: Any) -> float | None:
    if value is None or isinstance(value, str):
        return None
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        value = float(value)
        return None if math.isnan(value) else value
    try:
        value = float(value)  # Decimal amounts
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def _norm(value: Any) -> Any:
    """Numbers as float, texts as themselves, missing (None, NaN, "") as None."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    return _num(value)


def _compile_one(node: Tree) -> Callable:
    kind = node.data
    if kind == "number":
        value = float(node.children[0])
        return lambda get, member: value
    if kind == "string":
        value = _text(node.children[0])
        return lambda get, member: value
    if kind in ("true", "false"):
        value = 1.0 if kind == "true" else 0.0
        return lambda get, member: value
    if kind == "name":
        name = str(node.children[0])
        return lambda get, member: _norm(get(name))
    if kind == "subscript":
        key = "attributes." + _text(node.children[1])
        return lambda get, member: _norm(get(key))
    if kind == "neg":
        inner = _compile_one(node.children[0])

        def neg(get, member):
            v = _num(inner(get, member))
            return None if v is None else -v
        return neg
    if kind == "arith":
        left, op, right = _compile_one(node.children[0]), str(node.children[1]), _compile_one(node.children[2])

        def arith(get, member):
            a, b = _num(left(get, member)), _num(right(get, member))
            if a is None or b is None:
                return None
            if op == "+":
                return a + b
            if op == "-":
                return a - b
            if op == "*":
                return a * b
            return None if b == 0 else a / b
        return arith
    if kind == "compare":
        left, op, right = _compile_one(node.children[0]), str(node.children[1]), _compile_one(node.children[2])
        test = _COMPARE[op]

        def compare(get, member):
            a, b = left(get, member), right(get, member)
            if a is None or b is None:
                return None
            if isinstance(a, str) != isinstance(b, str):
                return False if op == "==" else (True if op == "!=" else None)
            return test(a, b)
        return compare
    if kind in ("in_values", "not_in_values"):
        subject = _compile_one(node.children[0])
        values = {_literal(v) for v in node.children[1:]}
        negate = kind == "not_in_values"

        def in_values(get, member):
            v = subject(get, member)
            if v is None:
                return None
            return (v in values) != negate
        return in_values
    if kind in ("in_list", "not_in_list"):
        subject, name = _compile_one(node.children[0]), _text(node.children[1])
        negate = kind == "not_in_list"

        def in_list(get, member):
            v = subject(get, member)
            if v is None:
                return None
            found = member(name, v)
            return None if found is None else found != negate
        return in_list
    if kind in ("is_null", "is_not_null"):
        subject = _compile_one(node.children[0])
        want_null = kind == "is_null"
        return lambda get, member: (subject(get, member) is None) == want_null
    if kind == "between":
        subject, low, high = (_compile_one(c) for c in node.children)

        def between(get, member):
            v, a, b = _num(subject(get, member)), _num(low(get, member)), _num(high(get, member))
            if v is None or a is None or b is None:
                return None
            return a <= v <= b
        return between
    if kind == "not_":
        inner = _compile_one(node.children[0])

        def not_(get, member):
            v = inner(get, member)
            return None if v is None else not v
        return not_
    if kind in ("and_", "or_"):
        left, right = _compile_one(node.children[0]), _compile_one(node.children[1])
        if kind == "and_":
            def and_(get, member):
                a = left(get, member)
                if a is False:
                    return False
                b = right(get, member)
                if b is False:
                    return False
                return None if a is None or b is None else True
            return and_

        def or_(get, member):
            a = left(get, member)
            if a is True:
                return True
            b = right(get, member)
            if b is True:
                return True
            return None if a is None or b is None else False
        return or_
    raise ValueError(f"cannot compile {kind}")


def _literal(node: Tree) -> Any:
    if node.data == "string":
        return _text(node.children[0])
    if node.data in ("true", "false"):
        return 1.0 if node.data == "true" else 0.0
    return float(node.children[0])


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


# ---- many events -----------------------------------------------------------------------
# Values are arrays: numbers float64 with NaN for missing, texts object arrays with None;
# truth is float64 with 1 (true), 0 (false) and NaN (unknown).

def _as_numbers(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind in "fiub":
        return values.astype("float64", copy=False)
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        n = _num(v) if not isinstance(v, str) else None
        if n is not None:
            out[i] = n
    return out


def _missing(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind in "fiub":
        return np.isnan(values.astype("float64", copy=False))
    # pandas checks None and NaN in C; an empty text is missing too, as on the one-event path.
    return pd.isna(values) | (values == "")


def _texts_only(values: np.ndarray) -> bool:
    """Object columns of event texts (None for missing), or a text constant: not attributes,
    which may hold numbers."""
    return values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty")


def _truth(value: np.ndarray, unknown: np.ndarray) -> np.ndarray:
    out = value.astype("float64")
    out[unknown] = np.nan
    return out


def _compile_many(node: Tree) -> Callable:
    kind = node.data
    if kind in ("number", "true", "false"):
        value = _literal(node)
        return lambda cols, member, n: np.full(n, value)
    if kind == "string":
        value = _text(node.children[0])
        return lambda cols, member, n: np.full(n, value, dtype=object)
    if kind in ("name", "subscript"):
        key = str(node.children[0]) if kind == "name" else "attributes." + _text(node.children[1])

        def column(cols, member, n):
            values = cols.get(key)
            return np.full(n, np.nan) if values is None else np.asarray(values)
        return column
    if kind == "neg":
        inner = _compile_many(node.children[0])
        return lambda cols, member, n: -_as_numbers(inner(cols, member, n))
    if kind == "arith":
        left, op, right = _compile_many(node.children[0]), str(node.children[1]), _compile_many(node.children[2])

        def arith(cols, member, n):
            a, b = _as_numbers(left(cols, member, n)), _as_numbers(right(cols, member, n))
            with np.errstate(divide="ignore", invalid="ignore"):
                if op == "+":
                    return a + b
                if op == "-":
                    return a - b
                if op == "*":
                    return a * b
                return np.where(b == 0, np.nan, a / np.where(b == 0, 1, b))
        return arith
    if kind == "compare":
        left, op, right = _compile_many(node.children[0]), str(node.children[1]), _compile_many(node.children[2])
        test = _COMPARE[op]

        def compare(cols, member, n):
            a, b = left(cols, member, n), right(cols, member, n)
            unknown = _missing(a) | _missing(b)
            if (a.dtype == object or b.dtype == object) and op in ("==", "!=") and _texts_only(a) and _texts_only(b):
                # Texts with texts: numpy compares the objects in C.
                same = np.asarray(a, dtype=object) == np.asarray(b, dtype=object)
                return _truth(same if op == "==" else ~same, unknown)
            if a.dtype == object or b.dtype == object:
                out = np.zeros(n)
                for i in np.flatnonzero(~unknown):
                    x, y = a[i], b[i]
                    if isinstance(x, str) != isinstance(y, str):
                        out[i] = 1.0 if op == "!=" else (0.0 if op == "==" else np.nan)
                    else:
                        x = x if isinstance(x, str) else float(x)
                        y = y if isinstance(y, str) else float(y)
                        out[i] = float(test(x, y))
                out[unknown] = np.nan
                return out
            with np.errstate(invalid="ignore"):
                return _truth(test(a.astype("float64"), b.astype("float64")), unknown)
        return compare
    if kind in ("in_values", "not_in_values"):
        subject = _compile_many(node.children[0])
        values = [_literal(v) for v in node.children[1:]]
        negate = kind == "not_in_values"

        def in_values(cols, member, n):
            a = subject(cols, member, n)
            unknown = _missing(a)
            if a.dtype.kind in "fiub":
                found = np.isin(a.astype("float64"), [v for v in values if not isinstance(v, str)])
            else:
                found = pd.Series(a, dtype=object).isin(values).to_numpy()
            return _truth(found != negate, unknown)
        return in_values
    if kind in ("in_list", "not_in_list"):
        subject, name = _compile_many(node.children[0]), _text(node.children[1])
        negate = kind == "not_in_list"

        def in_list(cols, member, n):
            a = subject(cols, member, n)
            unknown = _missing(a)
            found = member(name, a).astype("float64")  # NaN where the value cannot be a member
            out = np.where(np.isnan(found), np.nan, (found == 1.0) != negate).astype("float64")
            out[unknown] = np.nan
            return out
        return in_list
    if kind in ("is_null", "is_not_null"):
        subject = _compile_many(node.children[0])
        want_null = kind == "is_null"
        return lambda cols, member, n: (_missing(subject(cols, member, n)) == want_null).astype("float64")
    if kind == "between":
        subject, low, high = (_compile_many(c) for c in node.children)

        def between(cols, member, n):
            v, a, b = (_as_numbers(f(cols, member, n)) for f in (subject, low, high))
            unknown = np.isnan(v) | np.isnan(a) | np.isnan(b)
            with np.errstate(invalid="ignore"):
                return _truth((a <= v) & (v <= b), unknown)
        return between
    if kind == "not_":
        inner = _compile_many(node.children[0])
        return lambda cols, member, n: 1.0 - inner(cols, member, n)
    if kind in ("and_", "or_"):
        left, right = _compile_many(node.children[0]), _compile_many(node.children[1])
        decisive = 0.0 if kind == "and_" else 1.0

        def join(cols, member, n):
            a, b = left(cols, member, n), right(cols, member, n)
            out = np.where(np.isnan(a) | np.isnan(b), np.nan, 1.0 - decisive)
            out[(a == decisive) | (b == decisive)] = decisive
            return out
        return join
    raise ValueError(f"cannot compile {kind}")
