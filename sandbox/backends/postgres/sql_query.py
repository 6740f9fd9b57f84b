"""TMF630 filters and sort keys as SQL over the typed facts of each document.

Parsed :class:`~sandbox.domain.query.Filter` and
:class:`~sandbox.domain.sorting.SortKey` objects become one ``WHERE`` clause,
lateral joins and an ``ORDER BY`` over ``d.facts`` (see
:mod:`sandbox.backends.postgres.facts`). What a filter compares with comes
from the domain (``query.candidates``, ``query.bounds``, ``sorting.NO_VALUE``),
typed as facts; this module only renders ``query.holds`` and
``sorting.sort_documents`` as SQL:

- ``eq``: the path holds one of the candidate facts: their equality tokens
  overlap the row's (``tokens && ARRAY[...]``, one GIN lookup for a whole OR
  list), or, for JSON texts and long values, a containment test on the facts.
- ``ne``: some value is none of the candidates.
- ``gt`` / ``gte`` / ``lt`` / ``lte``: some value of the bound's rank compares;
  text compares by code point (``COLLATE "C"``), like Python.
- ``regex``: PostgreSQL's regular expressions on the value's text.
- sort: the smallest (ascending) or largest (descending) value by
  ``(rank, key)``, missing last, ties kept in storage order (``seq``).

``href`` is not stored: it is :func:`sandbox.domain.hrefs.href_of` the row's ``id``,
rendered as ``href_prefix || d.id``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from psycopg import sql

from sandbox.backends.postgres.facts import (
    BOOLEAN,
    INSTANT,
    JSON,
    NUMBER,
    TEXT,
    path_key,
    typed,
)
from sandbox.backends.postgres.migrations import TOKEN_BYTES
from sandbox.domain import hrefs, query, sorting
from sandbox.domain.query import Filter
from sandbox.domain.sorting import SortKey

_OPERATORS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


@dataclass
class Translation:
    """SQL fragments and their parameters, in the order they appear."""

    where: list[sql.Composable] = field(default_factory=list)
    where_params: list[Any] = field(default_factory=list)
    joins: list[sql.Composable] = field(default_factory=list)
    join_params: list[Any] = field(default_factory=list)
    order: list[sql.Composable] = field(default_factory=list)
    #: Whether a regular expression runs (the search then gets a statement timeout).
    has_regex: bool = False

    @property
    def condition(self) -> sql.Composable:
        return sql.SQL(" AND ").join(self.where) if self.where else sql.SQL("TRUE")


def fact_json(rank: int, value: Any) -> str:
    """A fact to look for, as JSON text (numbers keep their exact decimal digits)."""
    if rank in (NUMBER, INSTANT):
        return f'{{"o": {rank}, "n": {value}}}'  # str(Decimal) and int are JSON numbers
    if rank == BOOLEAN:
        return f'{{"o": {rank}, "b": {json.dumps(bool(value))}}}'
    return f'{{"o": {rank}, "s": {json.dumps(value, ensure_ascii=False)}}}'


def token(path: tuple[str, ...], rank: int, value: Any) -> str | None:
    """The equality token of migration 2's ``fact_tokens``; None when it is not indexed."""
    if rank == JSON:
        return None
    if rank == NUMBER:
        text = "0" if value == 0 else format(Decimal(value).normalize(), "f")
    elif rank == INSTANT:
        text = str(value)
    elif rank == BOOLEAN:
        text = "true" if value else "false"
    else:
        text = value
    made = f"{path_key(path)}\x1e{rank}\x1e{text}"
    return made if len(made.encode()) <= TOKEN_BYTES else None


#: A null counts as no value in a sort: its fact takes no part.
_NOT_NULL = sql.SQL("NOT e @> {}::jsonb").format(sql.Literal(fact_json(*typed(sorting.NO_VALUE))))


def _compare(rank: int, op: str) -> sql.Composable:
    """``e`` (one fact) ``op`` a parameter of ``rank``; false for another rank."""
    if rank == TEXT:
        key = sql.SQL("""(e->>'s') COLLATE "C" """)
    else:
        key = sql.SQL("(e->'n')::numeric")
    return sql.SQL("CASE WHEN (e->>'o')::int = {} THEN {} {} %s ELSE false END").format(
        rank, key, sql.SQL(op))


class Translator:
    """Builds the SQL of one search; ``href_prefix`` makes ``href`` a virtual attribute."""

    def __init__(self, href_prefix: str | None) -> None:
        self.href_prefix = href_prefix
        self.out = Translation()

    def _values(self, path: tuple[str, ...]) -> tuple[sql.Composable, list[Any]]:
        """The JSON array of facts at ``path`` for row ``d``."""
        if hrefs.under(path):  # hrefs.href_of, as SQL (callers check hrefs.reachable)
            return (sql.SQL("jsonb_build_array(jsonb_build_object('o', {}, 's', %s || d.id))")
                    .format(TEXT), [self.href_prefix])
        return sql.SQL("(d.facts -> %s)"), [path_key(path)]

    def _exists(self, path: tuple[str, ...], test: sql.Composable,
                params: list[Any]) -> None:
        values, head = self._values(path)
        self.out.where.append(sql.SQL("EXISTS (SELECT 1 FROM jsonb_array_elements({}) e "
                                      "WHERE {})").format(values, test))
        self.out.where_params.extend([*head, *params])

    def add_filter(self, f: Filter) -> None:
        if hrefs.under(f.path) and not hrefs.reachable(f.path, self.href_prefix):
            self.out.where.append(sql.SQL("FALSE"))
            return
        if f.op == "regex":
            self.out.has_regex = True
            self._exists(f.path, sql.SQL("coalesce(e->>'t', e->>'s') ~ %s"), [f.values[0]])
            return
        if f.op in _OPERATORS:
            pairs = [typed(item) for item in query.bounds(f)]
            tests = [_compare(rank, _OPERATORS[f.op]) for rank, _ in pairs]
            self._exists(f.path, sql.SQL(" OR ").join(tests), [v for _, v in pairs])
            return
        wanted = [typed(item) for item in query.candidates(f)]
        facts = [fact_json(rank, value) for rank, value in wanted]
        if f.op == "ne":
            self._exists(f.path, sql.SQL("NOT (e @> ANY (%s::jsonb[]))"), [facts])
        elif hrefs.under(f.path):
            self._exists(f.path, sql.SQL("e @> ANY (%s::jsonb[])"), [facts])
        else:
            self._equal(f.path, wanted)

    def _equal(self, path: tuple[str, ...], wanted: list[tuple[int, Any]]) -> None:
        """Any of ``wanted`` at ``path``: one index lookup for the tokens, containment else."""
        tokens = [token(path, rank, value) for rank, value in wanted]
        tests: list[sql.Composable] = []
        if any(tokens):
            tests.append(sql.SQL("d.tokens && %s::text[]"))
            self.out.where_params.append([t for t in tokens if t])
        key = json.dumps(path_key(path), ensure_ascii=False)
        for (rank, value), made in zip(wanted, tokens, strict=True):
            if made is None:  # a JSON text or a long value: the facts themselves
                tests.append(sql.SQL("d.facts @> %s::jsonb"))
                self.out.where_params.append(f"{{{key}: [{fact_json(rank, value)}]}}")
        self.out.where.append(sql.SQL("({})").format(sql.SQL(" OR ").join(tests))
                              if tests else sql.SQL("FALSE"))

    def add_sort(self, index: int, key: SortKey) -> None:
        alias = sql.Identifier(f"k{index}")
        way = sql.SQL("DESC" if key.descending else "ASC")
        if hrefs.under(key.path) and not hrefs.reachable(key.path, self.href_prefix):
            return  # nobody has it: the order stays as it was
        values, params = self._values(key.path)
        self.out.joins.append(sql.SQL(
            "LEFT JOIN LATERAL (SELECT (e->>'o')::int AS o, (e->'n')::numeric AS n, "
            """(e->>'s') COLLATE "C" AS s, (e->'b')::boolean AS b """
            "FROM jsonb_array_elements({values}) e WHERE {not_null} "
            "ORDER BY 1 {way}, 2 {way}, 3 {way}, 4 {way} LIMIT 1) {alias} ON TRUE"
        ).format(values=values, not_null=_NOT_NULL, way=way, alias=alias))
        self.out.join_params.extend(params)
        self.out.order.append(sql.SQL("{a}.o {way} NULLS LAST, {a}.n {way}, {a}.s {way}, "
                                      "{a}.b {way}").format(a=alias, way=way))


def translate(filters: Sequence[Filter], sort: Sequence[SortKey],
              href_prefix: str | None) -> Translation:
    translator = Translator(href_prefix)
    for f in filters:
        translator.add_filter(f)
    for index, key in enumerate(sort):
        translator.add_sort(index, key)
    translator.out.order.append(sql.SQL("d.seq"))
    return translator.out
