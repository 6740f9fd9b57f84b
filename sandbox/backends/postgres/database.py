"""A PostgreSQL store: one schema, reached through the process's pool; per-thread write sections.

Several sandbox processes may share one database, so nothing that must hold
across processes lives in memory. A store has no connections of its own: the
process's :class:`~sandbox.backends.postgres.server.PgServer` pool serves every
store, and each transaction starts by naming its store's schema
(``set_config('search_path', ..., true)``, local to the transaction).

``lock`` is a re-entrant *write section*: the outermost ``with repo.lock:``
takes a pooled connection for the calling thread and opens a transaction;
every repository call of that thread inside it (the customer write and the
events the hub queues for it, see :mod:`sandbox.backends.postgres.outbox`)
runs in that transaction, committed when the section ends and rolled back
when it raises. Outside a section each call is a transaction of its own.

Every table of the sandbox (``customer``, ``hub``, ``meta``) is a collection
of the ``document`` table: JSONB documents keyed by ``(collection, id)`` with
their typed facts (:mod:`sandbox.backends.postgres.facts`), which ``search`` queries
in SQL (:mod:`sandbox.backends.postgres.sql_query`). A store whose schema was
dropped (a tenant deleted by another process) raises
:class:`~sandbox.repository.StoreGone`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from types import TracebackType
from typing import Any

import psycopg
from psycopg import errors, sql
from psycopg.types.json import Jsonb

from sandbox.backends.postgres import fact_query
from sandbox.backends.postgres.counts import CountCache
from sandbox.backends.postgres.facts import facts_of
from sandbox.backends.postgres.migrations import (
    PUBLIC,
    SEED_LOCK,
    Connection,
    migrate,
    search_path,
)
from sandbox.backends.postgres.server import DatabaseUnavailable, PgServer, safe_url
from sandbox.domain import patterns
from sandbox.domain.query import Filter, uses_regex
from sandbox.domain.sorting import SortKey
from sandbox.errors import bad_request
from sandbox.repository import Document, SearchResult, StoreGone

INSERT = "INSERT INTO document (collection, id, doc, facts) VALUES (%s, %s, %s, %s)"
#: What PostgreSQL answers about a store whose schema is gone.
GONE = (errors.UndefinedTable, errors.InvalidSchemaName)


def regex_timeout_ms() -> int:
    """How long a search with regular expressions may run (PostgreSQL's own timer): the
    regex budget (``--regex-budget``) the in-memory evaluator gives one request.

    The other bounds of :mod:`sandbox.domain.patterns` hold before a pattern gets here:
    parsing the filter checks length, repetition counts and expansion, and the view
    holds an evaluation slot around the search.
    """
    return max(1, round(patterns.limits().budget_seconds * 1000))


def gone(schema: str, exc: BaseException) -> StoreGone:
    return StoreGone(f"the store {schema} no longer exists ({type(exc).__name__})")


@contextmanager
def store_transaction(server: PgServer, schema: str, *,
                      snapshot: bool = False) -> Iterator[Connection]:
    """A transaction of its own on a pooled connection, in ``schema``; ``snapshot``: read
    only, one snapshot for every statement (REPEATABLE READ)."""
    try:
        with server.connection() as conn, conn.transaction():
            if snapshot:  # must come before any query of the transaction
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            conn.execute("SELECT set_config('search_path', %s, true)", (search_path(schema),))
            yield conn
    except GONE as exc:
        raise gone(schema, exc) from exc


class WriteSection:
    """Re-entrant per thread; the outermost exit commits (or rolls back)."""

    def __init__(self, server: PgServer, schema: str) -> None:
        self._server = server
        self._schema = schema
        self._local = threading.local()

    @property
    def depth(self) -> int:
        """How many sections the calling thread is in (0: none)."""
        return int(getattr(self._local, "depth", 0) or 0)

    @property
    def connection(self) -> Connection | None:
        conn: Connection | None = getattr(self._local, "conn", None)
        return conn

    def __enter__(self) -> Connection:
        if not self.depth:
            stack = ExitStack()
            opened = stack.enter_context(store_transaction(self._server, self._schema))
            self._local.stack, self._local.conn = stack, opened
        self._local.depth = self.depth + 1
        conn = self.connection
        assert conn is not None
        return conn

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._local.depth -= 1
        if self._local.depth:
            if isinstance(exc, GONE):  # inner code sees the same error the outermost gives
                raise gone(self._schema, exc) from exc
            return
        stack: ExitStack = self._local.stack
        self._local.stack = self._local.conn = None
        stack.__exit__(kind, exc, tb)


class PgDatabase:
    """One store (a schema of the database) as the sandbox's store (see the module
    docstring); creating it makes the schema and its tables, if missing."""

    def __init__(self, server: PgServer, schema: str = PUBLIC) -> None:
        self.server = server
        self.schema = schema
        try:
            with server.connection() as conn:
                migrate(conn, schema)
        except psycopg.Error as exc:  # e.g. a user without CREATE rights on the database
            raise DatabaseUnavailable(f"cannot prepare the schema {schema} in "
                                      f"{safe_url(server.url)}: {str(exc).strip()}") from None
        self.section = WriteSection(server, schema)
        #: Counts of broad filters, kept while their collection does not change.
        self.counts = CountCache()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """The thread's section transaction if any, else a short one of its own."""
        with self.section as conn:
            yield conn

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """The thread's section transaction if any, else a read-only one that sees one
        snapshot of the store in all its statements."""
        if self.section.depth:
            with self.section as conn:
                yield conn
        else:
            with store_transaction(self.server, self.schema, snapshot=True) as conn:
                yield conn

    def table(self, name: str) -> PgRepository:
        return PgRepository(self, name)

    @contextmanager
    def exclusively(self, key: int = SEED_LOCK) -> Iterator[Connection]:
        """A write section that one process at a time holds (advisory lock ``key``)."""
        with self.section as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
            yield conn

    def close(self) -> None:
        """Nothing to release: the connections are the server's (closed with it)."""


class PgRepository:
    """CRUD and SQL search on one collection of the ``document`` table."""

    def __init__(self, db: PgDatabase, collection: str) -> None:
        self._db = db
        self._collection = collection

    @property
    def lock(self) -> WriteSection:
        return self._db.section

    def _rows(self, query: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self._db.transaction() as conn:
            return conn.execute(query, params).fetchall()

    def get(self, ident: str) -> Document | None:
        rows = self._rows("SELECT doc FROM document WHERE collection = %s AND id = %s",
                          (self._collection, ident))
        return rows[0][0] if rows else None

    def all(self) -> list[Document]:
        return [row[0] for row in self._rows(
            "SELECT doc FROM document WHERE collection = %s ORDER BY seq", (self._collection,))]

    def count(self) -> int:
        with self._db.transaction() as conn:
            return fact_query.size(conn, self._collection)

    def insert(self, doc: Document) -> None:
        self.insert_many([doc])

    def insert_many(self, docs: Sequence[Document]) -> None:
        rows = [(self._collection, doc["id"], *_json(doc)) for doc in docs]
        try:
            # A savepoint: a refused batch inside a caller's write section leaves that
            # section's transaction usable (and the batch all or nothing).
            with (_storable(), self._db.transaction() as conn, conn.transaction(),
                  conn.cursor() as cursor):
                if len(rows) == 1:  # executemany's pipeline costs more than it saves here
                    cursor.execute(INSERT, rows[0])
                else:
                    cursor.executemany(INSERT, rows)
        except errors.UniqueViolation:
            raise ValueError(f"a document with one of the ids {[d['id'] for d in docs][:5]} "
                             f"is already stored in {self._collection}") from None

    def update(
        self, ident: str, change: Callable[[Document], Document]
    ) -> tuple[Document, Document] | None:
        """Read under a row lock, transform, write: atomic across processes."""
        with _storable(), self._db.transaction() as conn:
            row = conn.execute("SELECT doc FROM document WHERE collection = %s AND id = %s "
                               "FOR UPDATE", (self._collection, ident)).fetchone()
            if row is None:
                return None
            before: Document = row[0]
            after = change(_clone(before))
            if after != before:
                conn.execute("UPDATE document SET doc = %s, facts = %s, version = version + 1 "
                             "WHERE collection = %s AND id = %s",
                             (*_json(after), self._collection, ident))
            return before, _clone(after)

    def delete(self, ident: str) -> Document | None:
        rows = self._rows("DELETE FROM document WHERE collection = %s AND id = %s RETURNING doc",
                          (self._collection, ident))
        return rows[0][0] if rows else None

    def search(
        self,
        filters: Sequence[Filter],
        *,
        sort: Sequence[SortKey] = (),
        offset: int = 0,
        limit: int | None = None,
        href_prefix: str | None = None,
    ) -> SearchResult:
        """Filters, order, window and total, all computed by PostgreSQL (in one snapshot,
        through the fact indexes: :mod:`sandbox.backends.postgres.fact_query`)."""
        # Inside a write section the transaction sees its own writes: no kept counts. Nor
        # for regular expressions: each request's evaluation is under its own budget.
        counts = None if self._db.section.depth or uses_regex(filters) else self._db.counts
        with _regex_errors(filters), self._db.snapshot() as conn:
            if uses_regex(filters):
                conn.execute(sql.SQL("SET LOCAL statement_timeout = {}").format(
                    regex_timeout_ms()))
            return fact_query.search(conn, self._collection, filters, sort, offset, limit,
                                     href_prefix, counts)


@contextmanager
def _regex_errors(filters: Sequence[Filter]) -> Iterator[None]:
    """PostgreSQL's regex refusals and timeouts as the 400s the TinyDB backend gives."""
    regexes = [f for f in filters if f.op == "regex"]
    name = regexes[0].param if regexes else "regex"
    try:
        yield
    except errors.QueryCanceled:
        raise bad_request(f"Filter '{name}': the regular expression takes too long to "
                          f"evaluate (more than {regex_timeout_ms() / 1000:g} s for the "
                          "request); simplify it", reason="Invalid filter") from None
    except errors.InvalidRegularExpression as exc:
        raise bad_request(f"Filter '{name}': invalid regular expression for this server "
                          f"({exc.diag.message_primary})", reason="Invalid filter") from None


@contextmanager
def _storable() -> Iterator[None]:
    """A document PostgreSQL cannot hold (a NUL character in text) is the client's 400."""
    try:
        yield
    except (errors.UntranslatableCharacter, errors.InvalidTextRepresentation,
            errors.CharacterNotInRepertoire) as exc:
        raise bad_request(f"The document cannot be stored: {exc.diag.message_primary}",
                          reason="Invalid value") from None


def storable_json(value: Any) -> str:
    # No NaN or Infinity (not JSON); a set or an object raises TypeError before any write.
    return json.dumps(value, allow_nan=False, ensure_ascii=False)


def _json(doc: Document) -> tuple[Jsonb, Jsonb]:
    """The document and its facts as JSONB parameters, serialised now (errors before SQL)."""
    text = storable_json(doc)
    facts = storable_json(facts_of(doc))
    return Jsonb(doc, dumps=lambda _: text), Jsonb(None, dumps=lambda _: facts)


def _clone(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _clone(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_clone(item) for item in value]
    return value
