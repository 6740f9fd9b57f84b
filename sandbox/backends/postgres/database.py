"""The PostgreSQL store: a connection pool, per-thread write sections, one repository per table.

Several sandbox processes may share one database, so nothing that must hold
across processes lives in memory. ``lock`` is a re-entrant *write section*:
the outermost ``with repo.lock:`` takes a pooled connection for the calling
thread and opens a transaction; every repository call of that thread inside
it (the customer write and the events the hub queues for it, see
:mod:`sandbox.backends.postgres.outbox`) runs in that transaction, committed when the
section ends and rolled back when it raises. Outside a section each call is a
transaction of its own.

Every table of the sandbox (``customer``, ``hub``, ``meta``) is a collection
of the ``document`` table: JSONB documents keyed by ``(collection, id)`` with
their typed facts (:mod:`sandbox.backends.postgres.facts`), which ``search`` queries
in SQL (:mod:`sandbox.backends.postgres.sql_query`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import Any

import psycopg
from psycopg import errors, sql
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from sandbox.backends.postgres.facts import facts_of
from sandbox.backends.postgres.migrations import PUBLIC, SEED_LOCK, migrate
from sandbox.backends.postgres.sql_query import translate
from sandbox.domain import patterns
from sandbox.domain.query import Filter
from sandbox.domain.sorting import SortKey
from sandbox.errors import bad_request
from sandbox.repository import Document, SearchResult

Connection = psycopg.Connection[tuple[Any, ...]]


def regex_timeout_ms() -> int:
    """How long a search with regular expressions may run (PostgreSQL's own timer): the
    regex budget (``--regex-budget``) the in-memory evaluator gives one request.

    The other bounds of :mod:`sandbox.domain.patterns` hold before a pattern gets here:
    parsing the filter checks length, repetition counts and expansion, and the view
    holds an evaluation slot around the search.
    """
    return max(1, round(patterns.limits().budget_seconds * 1000))


class DatabaseUnavailable(OSError):
    """The PostgreSQL server cannot be reached or refused the connection."""


def is_postgres_url(text: str) -> bool:
    return text.startswith(("postgresql://", "postgres://"))


class WriteSection:
    """Re-entrant per thread; the outermost exit commits (or rolls back)."""

    def __init__(self, pool: ConnectionPool[Connection]) -> None:
        self._pool = pool
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
        conn = self.connection
        if conn is None:
            conn = self._pool.getconn()
            self._local.conn, self._local.depth = conn, 0
        self._local.depth += 1
        return conn

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._local.depth -= 1
        if self._local.depth:
            return
        conn = self._local.conn
        self._local.conn = None
        try:
            if kind is None:
                conn.commit()
            else:
                conn.rollback()
        finally:
            self._pool.putconn(conn)


class PgDatabase:
    """One PostgreSQL database as the sandbox's store (see the module docstring)."""

    def __init__(self, url: str, *, schema: str | None = None, max_connections: int = 12,
                 timeout: float = 10.0) -> None:
        self.url = url
        #: Connection options: a ``schema`` keeps several stores apart in one database.
        self.options: dict[str, str] = {"application_name": "tmf629-sandbox"}
        try:  # one direct attempt first: a clear error at once instead of pool retries
            with psycopg.connect(url, connect_timeout=int(timeout), autocommit=True) as conn:
                if schema is not None:
                    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                        sql.Identifier(schema)))
                    self.options["options"] = f"-c search_path={schema}"
        except psycopg.Error as exc:
            raise DatabaseUnavailable(f"cannot connect to PostgreSQL at {_safe(url)}: "
                                      f"{str(exc).strip()}") from None
        self.pool: ConnectionPool[Connection] = ConnectionPool(
            url, min_size=1, max_size=max_connections, timeout=timeout, open=False,
            kwargs=dict(self.options))
        try:
            self.pool.open(wait=True, timeout=timeout)
        except PoolTimeout as exc:
            self.pool.close()
            raise DatabaseUnavailable(f"cannot connect to PostgreSQL at {_safe(url)}: "
                                      f"{exc}") from None
        self.section = WriteSection(self.pool)
        try:
            with self.section as conn:
                migrate(conn, schema or PUBLIC)
        except psycopg.Error as exc:  # e.g. a user without CREATE rights on the database
            self.pool.close()
            raise DatabaseUnavailable(f"cannot prepare the schema in {_safe(url)}: "
                                      f"{str(exc).strip()}") from None

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """The thread's section transaction if any, else a short one of its own."""
        with self.section as conn:
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
        self.pool.close()


def _safe(url: str) -> str:
    """``url`` without a password, for messages."""
    scheme, _, rest = url.partition("://")
    if "@" in rest:
        user, _, host = rest.rpartition("@")
        rest = f"{user.split(':')[0]}@{host}"
    return f"{scheme}://{rest}"


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
        return int(self._rows("SELECT count(*) FROM document WHERE collection = %s",
                              (self._collection,))[0][0])

    def insert(self, doc: Document) -> None:
        self.insert_many([doc])

    def insert_many(self, docs: Sequence[Document]) -> None:
        rows = [(self._collection, doc["id"], *_json(doc)) for doc in docs]
        try:
            with _storable(), self._db.transaction() as conn, conn.cursor() as cursor:
                cursor.executemany("INSERT INTO document (collection, id, doc, facts) "
                                   "VALUES (%s, %s, %s, %s)", rows)
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
        """Filters, order, window and total, all computed by PostgreSQL."""
        plan = translate(filters, sort, href_prefix)
        where = sql.SQL("WHERE d.collection = %s AND {}").format(plan.condition)
        count = sql.SQL("SELECT count(*) FROM document d {}").format(where)
        # The page is found apart from the count, so a small page of many matches reads
        # only its own documents (in seq order, through the index, when unsorted).
        page = sql.SQL("SELECT d.doc FROM document d {joins} {where} ORDER BY {order} "
                       "OFFSET %s LIMIT %s").format(
            joins=sql.SQL(" ").join(plan.joins), where=where,
            order=sql.SQL(", ").join(plan.order))
        with _regex_errors(filters), self._db.transaction() as conn:
            if self._db.section.depth == 1:  # a transaction of its own: one snapshot for both
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            if plan.has_regex:
                conn.execute(sql.SQL("SET LOCAL statement_timeout = {}").format(
                    regex_timeout_ms()))
            counted = conn.execute(count, [self._collection, *plan.where_params]).fetchone()
            total = int(counted[0]) if counted else 0
            if total <= offset or limit == 0:
                return SearchResult([], total)
            rows = conn.execute(page, [*plan.join_params, self._collection, *plan.where_params,
                                       offset, limit]).fetchall()
            return SearchResult([row[0] for row in rows], total)


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


def _strict(value: Any) -> str:
    # No NaN or Infinity (not JSON); a set or an object raises TypeError before any write.
    return json.dumps(value, allow_nan=False, ensure_ascii=False)


def _json(doc: Document) -> tuple[Jsonb, Jsonb]:
    """The document and its facts as JSONB parameters, serialised now (errors before SQL)."""
    text = _strict(doc)
    facts = _strict(facts_of(doc))
    return Jsonb(doc, dumps=lambda _: text), Jsonb(None, dumps=lambda _: facts)


def _clone(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _clone(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_clone(item) for item in value]
    return value
