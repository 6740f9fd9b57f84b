"""TMF630 filters and sort keys as SQL over the typed facts of each document.

Parsed :class:`~sandbox.domain.query.Filter` and
:class:`~sandbox.domain.sorting.SortKey` objects become conditions, lateral
joins and an ``ORDER BY``. What a filter compares with comes from the domain
(``query.candidates``, ``query.bounds``, ``sorting.NO_VALUE``), typed as facts
(:mod:`sandbox.backends.postgres.facts`); this module only renders
``query.holds`` and ``sorting.sort_documents`` as SQL. Scalar facts are rows of
the B-tree indexed ``fact`` table (store migration 4); a JSON text's row holds
its md5 digest:

- ``eq``, ``gt`` / ``gte`` / ``lt`` / ``lte``: a :class:`FactTest`, a
  condition on one ``fact`` row at the path: an index range of ``fact_value``
  (equality), ``fact_high`` (``gt``/``gte``: the document's largest value of
  the bound's rank) or ``fact_low``; text compares by code point
  (``COLLATE "C"``), like Python. A JSON candidate (an object, an array,
  ``null``) meets its digest's rows, then containment in ``document.facts``.
- ``ne``: some value, JSON ones included, is none of the candidates.
- ``regex``: PostgreSQL's regular expressions on the value's text.
- sort: the smallest (ascending) or largest (descending) value by
  ``(rank, key)``, missing last, ties kept in storage order (``seq``); the
  first key walks ``fact_low`` / ``fact_high`` (:mod:`.fact_query`) unless a
  document holds a JSON value there, then every key is a lateral join.

``href`` is not stored: it is :func:`sandbox.domain.hrefs.href_of` the row's ``id``,
rendered as ``href_prefix || d.id``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql

from sandbox.backends.postgres.facts import BOOLEAN, INSTANT, JSON, NUMBER, TEXT, path_key, typed
from sandbox.backends.postgres.migrations import INDEXED_CHARS
from sandbox.domain import hrefs, query, sorting
from sandbox.domain.query import Filter
from sandbox.domain.sorting import SortKey

#: The fact path of the id, which ``href`` (one prefix before every id) follows.
ID = path_key(("id",))
_OPERATORS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
#: The operator a cut text (its first INDEXED_CHARS characters) must meet for the whole.
_ON_CUT = {">": ">=", ">=": ">=", "<": "<=", "<=": "<=", "=": "="}


@dataclass
class FactTest:
    """A condition on one ``fact`` row (alias ``{a}``) that some row of a matching
    document meets. ``unique``: no document has two such rows, so rows count documents;
    ``flag``: the partial index's column (``rank_lo`` / ``rank_hi``) the test implies."""

    template: str
    params: list[Any]
    unique: bool
    flag: str | None = None

    def on(self, alias: str) -> sql.Composable:
        flag = f" AND {alias}.{self.flag}" if self.flag else ""
        return sql.SQL(self.template.format(a=alias) + flag)


@dataclass
class Translation:
    """SQL fragments and their parameters, in the order they appear."""

    #: Filters answered by fact rows (an index range each).
    facts: list[FactTest] = field(default_factory=list)
    #: The other filters, as conditions on the document row ``d``.
    where: list[sql.Composable] = field(default_factory=list)
    where_params: list[Any] = field(default_factory=list)
    joins: list[sql.Composable] = field(default_factory=list)
    join_params: list[Any] = field(default_factory=list)
    order: list[sql.Composable] = field(default_factory=list)
    #: The first sort key, when the fact indexes serve it: (path id, descending).
    sort_index: tuple[int | None, bool] | None = None

    def condition(self) -> tuple[sql.Composable, list[Any]]:
        """Every filter as one condition on ``d``, and its parameters."""
        parts: list[sql.Composable] = [
            sql.SQL("EXISTS (SELECT 1 FROM fact f WHERE f.seq = d.seq AND {})").format(
                test.on("f")) for test in self.facts]
        params = [p for test in self.facts for p in test.params]
        parts += self.where
        return (sql.SQL(" AND ").join(parts) if parts else sql.SQL("TRUE"),
                [*params, *self.where_params])


def fact_json(rank: int, value: Any) -> str:
    """A fact to look for, as JSON text (numbers keep their exact decimal digits)."""
    if rank in (NUMBER, INSTANT):
        return f'{{"o": {rank}, "n": {value}}}'  # str(Decimal) and int are JSON numbers
    if rank == BOOLEAN:
        return f'{{"o": {rank}, "b": {json.dumps(bool(value))}}}'
    return f'{{"o": {rank}, "s": {json.dumps(value, ensure_ascii=False)}}}'


def value_test(rank: int, op: str, value: Any) -> tuple[str, list[Any]]:
    """A fact row (alias ``{a}``) of ``rank`` compares ``op`` with ``value``. A text is
    kept cut (``s``) with the whole beside it (``rest``): a bound shorter than the cut
    compares with the cut exactly; a longer one narrows on the cut, then reads the whole."""
    if rank in (NUMBER, INSTANT):
        return f"({{a}}.o = {rank} AND {{a}}.n {op} %s::numeric)", [value]
    if rank == JSON:  # equality only (no bound is JSON): the digest
        return f"({{a}}.o = {rank} AND {{a}}.n IS NULL AND {{a}}.s = md5(%s))", [value]
    # The columns before the compared one are null in its rank: saying so lets the index
    # start at the value instead of reading every value of the path.
    if rank == BOOLEAN:
        return (f"({{a}}.o = {rank} AND {{a}}.n IS NULL AND {{a}}.s IS NULL "
                f"AND {{a}}.b {op} %s)"), [bool(value)]
    head = f"{{a}}.o = {rank} AND {{a}}.n IS NULL AND {{a}}.s"
    if len(value) < INDEXED_CHARS:
        return f"({head} {op} %s)", [value]
    return (f"({head} {_ON_CUT[op]} %s AND coalesce({{a}}.rest, {{a}}.s) {op} %s)",
            [value[:INDEXED_CHARS], value])


def _fact_test(path_id: int | None, pairs: Sequence[tuple[int, Any]], op: str,
               flag: str | None) -> FactTest:
    """Any of ``pairs`` compares ``op`` with a fact at the path ``path_id``."""
    if path_id is None or not pairs:  # no document ever held a scalar there
        return FactTest("FALSE", [], True)
    tests, params = [], [path_id]
    for rank, value in pairs:
        test, more = value_test(rank, op, value)
        tests.append(test)
        params.extend(more)
    unique = len(pairs) == 1 or (flag is not None and len({r for r, _ in pairs}) == 1)
    return FactTest(f"{{a}}.path = %s AND ({' OR '.join(tests)})", params, unique, flag)


#: A null counts as no value in a sort: its fact takes no part.
_NOT_NULL = sql.SQL("NOT e @> {}::jsonb").format(sql.Literal(fact_json(*typed(sorting.NO_VALUE))))


def _compare(rank: int, op: str) -> sql.Composable:
    """``e`` (one fact of ``href``) ``op`` a parameter of ``rank``; false for another."""
    if rank == TEXT:
        key = sql.SQL("""(e->>'s') COLLATE "C" """)
    else:
        key = sql.SQL("(e->'n')::numeric")
    return sql.SQL("CASE WHEN (e->>'o')::int = {} THEN {} {} %s ELSE false END").format(
        rank, key, sql.SQL(op))


class Translator:
    """Builds the SQL of one search; ``href_prefix`` makes ``href`` a virtual attribute;
    ``paths``: the ids of the collection's fact paths the search names."""

    def __init__(self, href_prefix: str | None, paths: Mapping[str, int]) -> None:
        self.href_prefix = href_prefix
        self.paths = paths
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
            self._exists(f.path, sql.SQL("coalesce(e->>'t', e->>'s') ~ %s"), [f.values[0]])
            return
        if f.op in _OPERATORS:
            pairs = [typed(item) for item in query.bounds(f)]
            if hrefs.under(f.path):
                tests = [_compare(rank, _OPERATORS[f.op]) for rank, _ in pairs]
                self._exists(f.path, sql.SQL(" OR ").join(tests), [v for _, v in pairs])
                return
            flag = "rank_hi" if f.op in ("gt", "gte") else "rank_lo"
            self.out.facts.append(_fact_test(self.paths.get(path_key(f.path)), pairs,
                                             _OPERATORS[f.op], flag))
            return
        wanted = [typed(item) for item in query.candidates(f)]
        facts = [fact_json(rank, value) for rank, value in wanted]
        if f.op == "ne":
            self._exists(f.path, sql.SQL("NOT (e @> ANY (%s::jsonb[]))"), [facts])
        elif hrefs.under(f.path):  # prefix || id: the id's fact rows
            idents = [hrefs.id_of(self.href_prefix, value) for rank, value in wanted
                      if rank == TEXT]
            self.out.facts.append(_fact_test(
                self.paths.get(ID), [(TEXT, i) for i in idents if i is not None], "=", None))
        else:
            self._equal(f.path, wanted)

    def _equal(self, path: tuple[str, ...], wanted: list[tuple[int, Any]]) -> None:
        """Any of ``wanted`` at ``path``: fact rows; a JSON text's row holds its digest, so
        a match on one is checked again on the document's facts (exact, and cheap: only
        the documents found)."""
        test = _fact_test(self.paths.get(path_key(path)), wanted, "=", None)
        self.out.facts.append(test)
        if any(rank == JSON for rank, _ in wanted):
            self._exists(path, sql.SQL("e @> ANY (%s::jsonb[])"),
                         [[fact_json(rank, value) for rank, value in wanted]])

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


def sort_path(sort: Sequence[SortKey], href_prefix: str | None) -> str | None:
    """The fact path the first sort key orders by, if the fact indexes could serve it:
    its own, or for ``href`` (one prefix before every id) the ``id``."""
    if not sort or (hrefs.under(sort[0].path) and
                    not hrefs.reachable(sort[0].path, href_prefix)):
        return None
    return ID if hrefs.under(sort[0].path) else path_key(sort[0].path)


def translate(filters: Sequence[Filter], sort: Sequence[SortKey], href_prefix: str | None,
              paths: Mapping[str, int] | None = None, *,
              sort_indexed: bool = False) -> Translation:
    """``paths``: ids of the fact paths named; ``sort_indexed``: the first sort key's
    path (:func:`sort_path`) holds no JSON value, so the fact indexes order by it."""
    translator = Translator(href_prefix, paths or {})
    for f in filters:
        translator.add_filter(f)
    keys = list(sort)
    first = sort_path(keys, href_prefix)
    if sort_indexed and first is not None:
        translator.out.sort_index = (translator.paths.get(first), keys.pop(0).descending)
    for index, key in enumerate(keys):
        translator.add_sort(index, key)
    translator.out.order.append(sql.SQL("d.seq"))
    return translator.out
