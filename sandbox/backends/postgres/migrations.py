"""The PostgreSQL schema as numbered migrations, applied once each, at start or on demand.

``migrate`` takes a transaction-scoped advisory lock, so processes starting
together apply each migration exactly once: the others wait, then find it
recorded in ``schema_migration``. Each migration runs in the transaction that
records it; a failure leaves the schema as it was. Never edit a published
migration: add the next one.
"""

from __future__ import annotations

import psycopg

#: Advisory lock keys (arbitrary, fixed): migrations, seeding, registering subscriptions.
MIGRATION_LOCK = 6290001
SEED_LOCK = 6290002
HUB_LOCK = 6290003
KEPT_LOCK = 6290004
#: Longer equality tokens are left out of the index (GIN entries must stay small); filters
#: for such values fall back to a containment test on the facts.
TOKEN_BYTES = 512

MIGRATIONS: list[tuple[int, str, str]] = [
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
]


def applied(conn: psycopg.Connection[tuple[object, ...]]) -> list[int]:
    exists = conn.execute("SELECT to_regclass('schema_migration') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return []
    return [int(str(row[0])) for row in
            conn.execute("SELECT version FROM schema_migration ORDER BY version")]


def migrate(conn: psycopg.Connection[tuple[object, ...]]) -> list[int]:
    """Apply the migrations ``conn``'s database lacks; returns the versions applied now."""
    done: list[int] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migration ("
                     "version integer PRIMARY KEY, description text NOT NULL, "
                     "applied timestamptz NOT NULL DEFAULT now())")
        have = set(applied(conn))
        for version, description, statements in MIGRATIONS:
            if version in have:
                continue
            conn.execute(statements.encode())
            conn.execute("INSERT INTO schema_migration (version, description) VALUES (%s, %s)",
                         (version, description))
            done.append(version)
    return done
