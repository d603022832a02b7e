"""Odoo search domains (prefix-notation ``&``/``|``/``!`` over ``[field, operator, value]`` leaves).

Covers what integrations send: comparison and ``in`` operators, the ``like`` family, ``=?``,
dotted paths through many2one/one2many fields (any-match, as Odoo does) and name matching when a
relational field is compared with a string.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from simulators.odoo.exceptions import PythonError

__all__ = ["Resolver", "compile_domain"]

Predicate = Callable[[int], bool]

_OPERATORS = frozenset(
    {"=", "!=", "<>", "<", ">", "<=", ">=", "in", "not in", "like", "not like", "ilike", "not ilike",
     "=like", "=ilike", "=?"}
)
_NEGATIVE = {"!=": "=", "<>": "=", "not in": "in", "not like": "like", "not ilike": "ilike"}


class Resolver(Protocol):
    """How the domain reads records: the candidate values at the end of a dotted path."""

    def leaf_values(self, rec_id: int, path: str, *, names: bool) -> list[Any]:
        """Values reached by ``path`` from one record; relational ends give ids, or names if asked."""


def _invalid(leaf: object) -> PythonError:
    return PythonError("ValueError", f"Invalid leaf {leaf!r}")


def _like(pattern: str, value: Any, *, anchored: bool, insensitive: bool) -> bool:
    if value is None or value is False:
        return False
    if anchored:
        regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
        return re.fullmatch(regex, str(value), re.IGNORECASE if insensitive else 0) is not None
    if insensitive:
        return pattern.lower() in str(value).lower()
    return pattern in str(value)


def _falsy(value: Any) -> bool:
    return value is None or value is False or value == ""


def _match_one(op: str, candidate: Any, value: Any) -> bool:
    if op == "=":
        if value is False or value is None:
            return _falsy(candidate)
        return bool(candidate == value)
    if op == "in":
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        if False in values and _falsy(candidate):
            return True
        return candidate in values
    if op in ("like", "ilike", "=like", "=ilike"):
        return _like(str(value), candidate, anchored=op.startswith("="), insensitive="ilike" in op)
    if _falsy(candidate):
        return False  # SQL comparison with NULL is never true
    try:
        if op == "<":
            return bool(candidate < value)
        if op == ">":
            return bool(candidate > value)
        if op == "<=":
            return bool(candidate <= value)
        return bool(candidate >= value)
    except TypeError:
        return False


def _leaf(leaf: Sequence[Any], resolver: Resolver) -> Predicate:
    if len(leaf) != 3 or not isinstance(leaf[0], (str, int)) or not isinstance(leaf[1], str):
        raise _invalid(leaf)
    path, op, value = leaf
    op = op.lower()
    if (path, op, value) in ((1, "=", 1), (0, "=", 1)):
        result = path == 1
        return lambda _rec: result
    if not isinstance(path, str) or op not in _OPERATORS:
        raise _invalid(leaf)
    if op == "=?":
        if value is None or value is False:
            return lambda _rec: True
        op = "="
    negate = op in _NEGATIVE
    positive = _NEGATIVE.get(op, op)
    names = isinstance(value, str) or (
        isinstance(value, (list, tuple)) and bool(value) and all(isinstance(v, str) for v in value)
    )

    def predicate(rec_id: int) -> bool:
        candidates = resolver.leaf_values(rec_id, path, names=names) or [None]
        hit = any(_match_one(positive, c, value) for c in candidates)
        return not hit if negate else hit

    return predicate


def compile_domain(domain: Sequence[Any] | None, resolver: Resolver) -> Predicate:
    """Turn a domain into a predicate on record ids; raises ValueError (as Odoo does) when malformed."""
    if domain is None:
        return lambda _rec: True
    if not isinstance(domain, (list, tuple)):
        raise PythonError("ValueError", f"Invalid domain {domain!r}")
    items = list(domain)
    pos = 0

    def parse() -> Predicate:
        nonlocal pos
        if pos >= len(items):
            raise PythonError("ValueError", f"Invalid domain {domain!r}: missing operand")
        item = items[pos]
        pos += 1
        if item == "!":
            inner = parse()
            return lambda rec: not inner(rec)
        if item in ("&", "|"):
            left, right = parse(), parse()
            if item == "&":
                return lambda rec: left(rec) and right(rec)
            return lambda rec: left(rec) or right(rec)
        if isinstance(item, (list, tuple)):
            return _leaf(item, resolver)
        raise _invalid(item)

    terms: list[Predicate] = []
    while pos < len(items):
        terms.append(parse())  # top-level terms are implicitly AND-ed
    return lambda rec: all(term(rec) for term in terms)
