"""The PostgreSQL schema as numbered migrations, applied once each, at start or on demand.

Two lists: :data:`MIGRATIONS` builds one *store* (the ``document`` table) in
the store's schema, recorded in that schema's ``schema_migration``;
:data:`SHARED_MIGRATIONS` builds what every store and process of a database
shares (the delivery queue of every store's events...), in ``public``, recorded in
``public.shared_migration`` and applied once when a process starts
(:class:`~sandbox.backends.postgres.server.PgServer`).

Each list is applied under a transaction-scoped advisory lock, so processes
starting together apply each migration exactly once: the others wait, then
find it recorded. Each migration runs in the transaction that records it; a
failure leaves the schema as it was. Never edit a published migration: add
the next one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

#: Advisory lock keys (arbitrary, fixed): creating and migrating stores, seeding,
#: registering subscriptions, the tenant directory, the shared migrations, fault rules;
#: LOG_LOCK is the class of the two-key locks of the hosted logs (one per log).
MIGRATION_LOCK = 6290001
SEED_LOCK = 6290002
HUB_LOCK = 6290003
DIRECTORY_LOCK = 6290004
SHARED_MIGRATION_LOCK = 6290005
RULES_LOCK = 6290010
LOG_LOCK = 629011
#: The schema of the open sandbox's store and of everything the stores share.
PUBLIC = "public"
#: Longer equality tokens are left out of the index (GIN entries must stay small); filters
#: for such values fall back to a containment test on the facts.
TOKEN_BYTES = 512
#: Text facts are kept in the B-tree indexed ``fact`` table cut to this many characters
#: (index entries must stay small); the whole text, when longer, beside it (``rest``).
INDEXED_CHARS = 200

Migration = tuple[int, str, str]
#: A connection of this package (rows as tuples); every module names it so.
Connection = psycopg.Connection[tuple[Any, ...]]

#: The store migrations: (version, description, SQL run in the store's schema).
MIGRATIONS: list[Migration] = [
    (1, "documents with typed facts; the event outbox", """
        CREATE TABLE document (
            collection text NOT NULL,
            id text NOT NULL,
            -- storage order: lists without sort= come in insertion order
            seq bigserial NOT NULL,
            doc jsonb NOT NULL,
            -- every path's typed values (sandbox.postgres.facts): filters and sort read these
            facts jsonb NOT NULL,
            version integer NOT NULL DEFAULT 1,
            PRIMARY KEY (collection, id)
        );
        CREATE INDEX document_order ON document (collection, seq);
        -- serves eq filters: facts @> {"path": [fact]}
        CREATE INDEX document_facts ON document USING gin (facts jsonb_path_ops);
        CREATE TABLE outbox (
            seq bigserial PRIMARY KEY,
            subscription_id text NOT NULL,
            url text NOT NULL,
            event jsonb NOT NULL,
            attempt integer NOT NULL DEFAULT 0,
            next_attempt timestamptz NOT NULL DEFAULT now(),
            created timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX outbox_heads ON outbox (subscription_id, seq);
    """),
    (2, "equality tokens: path, rank and canonical key of every short scalar fact", f"""
        -- The text of one fact as an equality token; numbers without trailing zeros, so
        -- 650 and 650.00 meet (sandbox.postgres.sql_query.token builds the same text).
        CREATE FUNCTION fact_tokens(facts jsonb) RETURNS text[]
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
            SELECT coalesce(array_agg(DISTINCT t), '{{}}') FROM (
                SELECT p.key || chr(30) || (e->>'o') || chr(30) ||
                       CASE WHEN e ? 'n' THEN trim_scale((e->'n')::numeric)::text
                            WHEN e ? 'b' THEN e->>'b' ELSE e->>'s' END AS t
                FROM jsonb_each(facts) p, jsonb_array_elements(p.value) e
                WHERE (e->>'o')::int <> 4) tokens
            WHERE octet_length(t) <= {TOKEN_BYTES}
        $$;
        ALTER TABLE document ADD COLUMN tokens text[]
            GENERATED ALWAYS AS (fact_tokens(facts)) STORED;
        -- serves eq filters and OR lists: tokens && ARRAY[...] (not lossy: no recheck)
        CREATE INDEX document_tokens ON document USING gin (tokens);
    """),
    (3, "the store's outbox moves to the shared delivery queue", """
        -- public.delivery_queue (shared migration 2) holds every store's events now, so
        -- one set of deliverers per process serves them all; none queued here is lost.
        INSERT INTO public.delivery_queue
            (store, subscription_id, url, event, attempt, next_attempt, created)
        SELECT current_schema(), subscription_id, url, event, attempt, next_attempt, created
        FROM outbox ORDER BY seq;
        DROP TABLE outbox;
    """),
    (4, "typed facts as B-tree indexed rows: ordering operators, sorts and counts", f"""
        -- No write may fall between the copy of the facts below and the triggers.
        LOCK TABLE document IN SHARE ROW EXCLUSIVE MODE;
        CREATE UNIQUE INDEX document_seq ON document (seq);
        -- Attribute paths of each collection, numbered: fact rows and indexes stay narrow.
        CREATE TABLE fact_path (
            id serial PRIMARY KEY,
            collection text NOT NULL,
            key text NOT NULL,
            UNIQUE (collection, key)
        );
        -- One row per distinct fact of a document (sandbox.backends.postgres.facts;
        -- see fact_rows for JSON texts). rank_lo / rank_hi: the document's
        -- smallest / largest value of this rank at the path (an ordering filter tests one
        -- row per document); lo / hi: its smallest / largest of all ranks (its sort key).
        CREATE TABLE fact (
            seq bigint NOT NULL,
            path integer NOT NULL,
            o smallint NOT NULL,
            n numeric,
            s text COLLATE "C",
            rest text COLLATE "C",
            b boolean,
            rank_lo boolean NOT NULL,
            rank_hi boolean NOT NULL,
            lo boolean NOT NULL,
            hi boolean NOT NULL
        );

        -- How many documents each collection holds, in slots (one per backend, modulo 64)
        -- so that writers through different connections do not queue on one row.
        CREATE TABLE document_count (
            collection text NOT NULL,
            slot integer NOT NULL,
            n bigint NOT NULL,
            PRIMARY KEY (collection, slot)
        );
        CREATE FUNCTION document_counted(coll text, delta bigint)
        RETURNS void LANGUAGE sql AS $$
            INSERT INTO document_count (collection, slot, n)
            VALUES (coll, pg_backend_pid() % 64, delta)
            ON CONFLICT (collection, slot) DO UPDATE SET n = document_count.n + excluded.n
        $$;

        -- The fact rows of one document, its paths already numbered. A JSON text (an
        -- object, an array, null: rank 4) is a row too, its text as an md5 digest in s:
        -- it narrows equality filters (rechecked on document.facts) and tells whether a
        -- path holds objects; only the other ranks take part in lo / hi (the sort).
        CREATE FUNCTION fact_rows(coll text, doc_seq bigint, facts jsonb)
        RETURNS SETOF fact LANGUAGE sql STABLE AS $$
            SELECT doc_seq, p.id, v.o, v.n, v.s, v.rest, v.b,
                   row_number() OVER (PARTITION BY v.key, v.o
                       ORDER BY v.n, v.s, coalesce(v.rest, v.s), v.b) = 1,
                   row_number() OVER (PARTITION BY v.key, v.o
                       ORDER BY v.n DESC, v.s DESC, coalesce(v.rest, v.s) DESC, v.b DESC) = 1,
                   v.o <> 4 AND row_number() OVER (PARTITION BY v.key, v.o = 4
                       ORDER BY v.o, v.n, v.s, coalesce(v.rest, v.s), v.b) = 1,
                   v.o <> 4 AND row_number() OVER (PARTITION BY v.key, v.o = 4
                       ORDER BY v.o DESC, v.n DESC, v.s DESC, coalesce(v.rest, v.s) DESC,
                                v.b DESC) = 1
            FROM (SELECT DISTINCT f.key, (e->>'o')::smallint AS o, (e->'n')::numeric AS n,
                         CASE WHEN (e->>'o')::int = 4 THEN md5(e->>'s')
                              ELSE left(e->>'s', {INDEXED_CHARS}) END COLLATE "C" AS s,
                         CASE WHEN (e->>'o')::int <> 4 AND length(e->>'s') > {INDEXED_CHARS}
                              THEN e->>'s' END COLLATE "C" AS rest,
                         (e->'b')::boolean AS b
                  FROM jsonb_each(facts) f, jsonb_array_elements(f.value) e) v
            JOIN fact_path p ON p.collection = coll AND p.key = v.key
        $$;
        -- Statement triggers: a batch (COPY, insert_many) is one set of statements.
        CREATE FUNCTION document_facts_added() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' THEN
                DELETE FROM fact f USING old_rows o WHERE f.seq = o.seq;
            ELSE
                PERFORM document_counted(r.collection, count(*))
                FROM new_rows r GROUP BY r.collection;
            END IF;
            -- Only new paths (an insert that meets a conflict still draws an id); in one
            -- order: writers adding the same new paths wait, never deadlock.
            INSERT INTO fact_path (collection, key)
            SELECT DISTINCT r.collection, k FROM new_rows r, jsonb_object_keys(r.facts) k
            WHERE NOT EXISTS (SELECT 1 FROM fact_path p
                              WHERE p.collection = r.collection AND p.key = k)
            ORDER BY 1, 2 ON CONFLICT DO NOTHING;
            INSERT INTO fact SELECT x.* FROM new_rows r, fact_rows(r.collection, r.seq, r.facts) x;
            RETURN NULL;
        END $$;
        CREATE FUNCTION document_facts_removed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM fact f USING old_rows o WHERE f.seq = o.seq;
            PERFORM document_counted(r.collection, -count(*))
            FROM old_rows r GROUP BY r.collection;
            RETURN NULL;
        END $$;
        CREATE TRIGGER document_facts_delete AFTER DELETE ON document
            REFERENCING OLD TABLE AS old_rows
            FOR EACH STATEMENT EXECUTE FUNCTION document_facts_removed();
        CREATE TRIGGER document_facts_insert AFTER INSERT ON document
            REFERENCING NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION document_facts_added();
        CREATE TRIGGER document_facts_update AFTER UPDATE ON document
            REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION document_facts_added();

        -- What the stores already hold.
        INSERT INTO document_count (collection, slot, n)
        SELECT collection, 0, count(*) FROM document GROUP BY collection;
        INSERT INTO fact_path (collection, key)
        SELECT DISTINCT d.collection, k FROM document d, jsonb_object_keys(d.facts) k
        ORDER BY 1, 2;
        INSERT INTO fact SELECT x.* FROM document d, fact_rows(d.collection, d.seq, d.facts) x;
        -- Indexed once filled: a large store upgrades in one sort per index.
        CREATE INDEX fact_doc ON fact (seq);
        CREATE INDEX fact_value ON fact (path, o, n, s, b, seq);
        CREATE INDEX fact_low ON fact (path, o, n, s, b, seq) WHERE rank_lo;
        -- Read backwards by a descending sort: largest first, ties in storage order.
        CREATE INDEX fact_high ON fact (path, o, n, s, b, seq DESC) WHERE rank_hi;
        -- Paths holding texts longer than the cut (rare): their order needs the whole.
        CREATE INDEX fact_long ON fact (path) WHERE rest IS NOT NULL;
        -- Paths and values are far from independent (only status holds 'Approved').
        CREATE STATISTICS fact_path_value (mcv) ON path, o, s FROM fact;
        ANALYZE fact;

        -- Equality is served by fact_value now: the tokens and the GIN index of the
        -- facts only cost writes (and a GIN's pending list makes writers queue).
        DROP INDEX document_facts;
        DROP INDEX document_tokens;
        ALTER TABLE document DROP COLUMN tokens;
        DROP FUNCTION fact_tokens(jsonb);
    """),
    (5, "an update rewrites only the fact rows that changed; collections count changes", """
        -- Every write statement adds to its collection's changes (in the writer's slot, so
        -- writers do not queue): two snapshots that see the same sum see the same
        -- documents, so a count taken in one serves the other
        -- (sandbox.backends.postgres.counts).
        ALTER TABLE document_count ADD COLUMN changes bigint NOT NULL DEFAULT 0;
        CREATE OR REPLACE FUNCTION document_counted(coll text, delta bigint)
        RETURNS void LANGUAGE sql AS $$
            INSERT INTO document_count (collection, slot, n, changes)
            VALUES (coll, pg_backend_pid() % 64, delta, 1)
            ON CONFLICT (collection, slot) DO UPDATE
            SET n = document_count.n + excluded.n, changes = document_count.changes + 1
        $$;
        -- Migration 4's update trigger deleted and rewrote every fact row of a changed
        -- document (some 50 rows, four B-trees each) for a one-attribute PATCH. Now the
        -- rows the new facts still hold stay; only the others go and only new ones come.
        CREATE FUNCTION document_facts_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM document_counted(r.collection, 0) FROM new_rows r GROUP BY r.collection;
            INSERT INTO fact_path (collection, key)
            SELECT DISTINCT r.collection, k FROM new_rows r, jsonb_object_keys(r.facts) k
            WHERE NOT EXISTS (SELECT 1 FROM fact_path p
                              WHERE p.collection = r.collection AND p.key = k)
            ORDER BY 1, 2 ON CONFLICT DO NOTHING;
            -- Both statements see the rows as they were before this one (one snapshot):
            -- a kept row is wanted, so neither deleted nor added again.
            WITH wanted AS MATERIALIZED (
                SELECT x.* FROM new_rows r, fact_rows(r.collection, r.seq, r.facts) x),
            gone AS (
                DELETE FROM fact f USING old_rows o WHERE f.seq = o.seq AND NOT EXISTS (
                    SELECT 1 FROM wanted w WHERE w.seq = f.seq AND w.path = f.path
                    AND (w.o, w.n, w.s, w.rest, w.b, w.rank_lo, w.rank_hi, w.lo, w.hi)
                        IS NOT DISTINCT FROM
                        (f.o, f.n, f.s, f.rest, f.b, f.rank_lo, f.rank_hi, f.lo, f.hi)))
            INSERT INTO fact SELECT w.* FROM wanted w WHERE NOT EXISTS (
                SELECT 1 FROM fact f WHERE f.seq = w.seq AND f.path = w.path
                AND (w.o, w.n, w.s, w.rest, w.b, w.rank_lo, w.rank_hi, w.lo, w.hi)
                    IS NOT DISTINCT FROM
                    (f.o, f.n, f.s, f.rest, f.b, f.rank_lo, f.rank_hi, f.lo, f.hi));
            RETURN NULL;
        END $$;
        DROP TRIGGER document_facts_update ON document;
        CREATE TRIGGER document_facts_update AFTER UPDATE ON document
            REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION document_facts_changed();
    """),
]


#: Migrations of the ``public`` schema every process and store of a database shares
#: (version, description, SQL); tables here are named with their schema, ``public.x``.
SHARED_MIGRATIONS: list[Migration] = [
    (1, "hosted state: the tenant directory, fault rules, request journals, delivery logs", """
        -- Tenants the admin API created; a new generation each time a name is created.
        CREATE TABLE public.hosted_tenant (
            name text PRIMARY KEY,
            generation text NOT NULL,
            key_digests text[] NOT NULL,
            seed boolean NOT NULL,
            seq bigserial NOT NULL
        );
        -- The tenants file's tenants the admin API deleted.
        CREATE TABLE public.hosted_tenant_removed (name text PRIMARY KEY);
        -- One row, counting the directory's changes: the cheap check behind the NOTIFY.
        CREATE TABLE public.hosted_directory (
            one boolean PRIMARY KEY DEFAULT true CHECK (one),
            version bigint NOT NULL
        );
        INSERT INTO public.hosted_directory (version) VALUES (0);
        -- Each tenant's fault rules in order (tenant '' is the open sandbox).
        CREATE TABLE public.hosted_fault_rules (
            tenant text NOT NULL,
            generation text NOT NULL,
            rules jsonb NOT NULL,
            version bigint NOT NULL DEFAULT 1,
            PRIMARY KEY (tenant, generation)
        );
        -- Request journals (kind 'journal') and delivery logs ('delivery'), trimmed per tenant.
        CREATE TABLE public.hosted_log (
            kind text NOT NULL,
            tenant text NOT NULL,
            generation text NOT NULL,
            seq bigserial NOT NULL,
            entry jsonb NOT NULL,
            PRIMARY KEY (kind, tenant, generation, seq)
        );
        -- What an earlier version kept as the document 'hosted-tenants' (clear keys hashed).
        DO $$
        BEGIN
            IF to_regclass('public.document') IS NOT NULL THEN
                INSERT INTO public.hosted_tenant (name, generation, key_digests, seed)
                SELECT c->>'name', '',
                       CASE WHEN c ? 'keyHashes'
                            THEN ARRAY(SELECT jsonb_array_elements_text(c->'keyHashes'))
                            ELSE ARRAY(SELECT encode(sha256(convert_to(k, 'UTF8')), 'hex')
                                       FROM jsonb_array_elements_text(c->'keys') k) END,
                       coalesce((c->>'seed')::boolean, true)
                FROM public.document d, jsonb_array_elements(d.doc->'data'->'created') c
                WHERE d.collection = 'kept' AND d.id = 'hosted-tenants'
                ON CONFLICT (name) DO NOTHING;
                INSERT INTO public.hosted_tenant_removed (name)
                SELECT jsonb_array_elements_text(d.doc->'data'->'deleted')
                FROM public.document d WHERE d.collection = 'kept' AND d.id = 'hosted-tenants'
                ON CONFLICT (name) DO NOTHING;
            END IF;
        END $$;
    """),
    (2, "one delivery queue for every store's events, claimed by lease", """
        CREATE TABLE public.delivery_queue (
            seq bigserial PRIMARY KEY,
            -- the schema of the store whose hub queued the event
            store text NOT NULL,
            subscription_id text NOT NULL,
            url text NOT NULL,
            event jsonb NOT NULL,
            -- attempts made so far, and when the next one is due
            attempt integer NOT NULL DEFAULT 0,
            next_attempt timestamptz NOT NULL DEFAULT now(),
            -- a deliverer's claim on the head until then; a dead deliverer's expires
            leased_until timestamptz,
            lease text,
            created timestamptz NOT NULL DEFAULT now()
        );
        -- a subscription's head: its lowest seq
        CREATE INDEX delivery_queue_heads ON public.delivery_queue (store, subscription_id, seq);
    """),
]


def applied(conn: Connection, table: str = "schema_migration",
            schema: str | None = None) -> list[int]:
    """The versions recorded in ``schema.table`` (``schema``: the search path's first)."""
    name = sql.Identifier(table) if schema is None else sql.Identifier(schema, table)
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL",
                          (name.as_string(conn),)).fetchone()
    if not exists or not exists[0]:
        return []
    return [int(str(row[0])) for row in conn.execute(
        sql.SQL("SELECT version FROM {} ORDER BY version").format(name))]


def migrate(conn: Connection, schema: str = PUBLIC,
            migrations: Sequence[Migration] = MIGRATIONS) -> list[int]:
    """Create the store ``schema`` if it is missing and apply the store migrations it lacks;
    returns the versions applied now. Any number of processes may create the same or
    different stores at once: one lock orders them, so none meets a half-made schema."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        if schema != PUBLIC:  # public exists, and CREATE SCHEMA needs a right it may lack
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                sql.Identifier(schema)))
        conn.execute("SELECT set_config('search_path', %s, true)", (search_path(schema),))
        return _apply(conn, "schema_migration", migrations)


def migrate_shared(conn: Connection,
                   migrations: Sequence[Migration] = SHARED_MIGRATIONS) -> list[int]:
    """Apply the shared migrations the database lacks; returns the versions applied now."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (SHARED_MIGRATION_LOCK,))
        conn.execute("SELECT set_config('search_path', %s, true)", (search_path(PUBLIC),))
        return _apply(conn, "shared_migration", migrations)


def search_path(schema: str) -> str:
    """``schema`` as a ``search_path`` value (quoted: any name is one schema)."""
    return '"' + schema.replace('"', '""') + '"'


def _apply(conn: Connection, table: str, migrations: Sequence[Migration]) -> list[int]:
    """Inside the caller's locked transaction: record table, then each missing migration."""
    conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} ("
                         "version integer PRIMARY KEY, description text NOT NULL, "
                         "applied timestamptz NOT NULL DEFAULT now())").format(
        sql.Identifier(table)))
    have = set(applied(conn, table))
    done: list[int] = []
    for version, description, statements in migrations:
        if version in have:
            continue
        conn.execute(statements.encode())
        conn.execute(sql.SQL("INSERT INTO {} (version, description) VALUES (%s, %s)").format(
            sql.Identifier(table)), (version, description))
        done.append(version)
    return done
