"""Schema names for hosted tenants' stores: readable, never cut, never shared.

PostgreSQL cuts identifiers at 63 bytes, so ``tenant_<name>`` gave two long
names with a common prefix one schema, and a tenant deleted and made again
under its name found the old one's schema. A store's schema is a readable
prefix of the name plus a digest of the full name and the tenant's
*generation* (what tells a tenant made again from the one before it).
A store of an earlier version (``tenant_<name>``) is adopted under its new name.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import psycopg
from psycopg import sql

from sandbox.backends.postgres.migrations import MIGRATION_LOCK

Connection = psycopg.Connection[Any]

#: Characters of the tenant's name kept in the schema name, to read it in psql.
READABLE = 40
#: Hex digits of sha256(name, generation): 64 bits, no collision among any tenants.
DIGEST = 16


def store_schema(tenant: str, generation: str = "") -> str:
    """``t_<readable name>_<digest>``: at most 2 + 40 + 1 + 16 = 59 bytes (< 63)."""
    readable = re.sub(r"[^a-z0-9]", "_", tenant.lower())[:READABLE]
    digest = hashlib.sha256(f"{tenant}\0{generation}".encode()).hexdigest()[:DIGEST]
    return f"t_{readable}_{digest}"


def legacy_schema(tenant: str) -> str:
    """The schema a tenant's store had before names carried a digest (cut at 63 bytes)."""
    return f"tenant_{tenant.replace('-', '_')}"[:63]


def adopt_legacy(conn: Connection, tenant: str, schema: str) -> bool:
    """Rename a tenant's pre-digest schema to ``schema`` when only the old one exists, so
    an upgraded server finds the tenants an earlier version kept (their generation is
    ``""``). Under the migration lock: processes starting together rename once.
    Returns whether it renamed."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        found = {str(row[0]) for row in conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)",
            ([legacy_schema(tenant), schema],))}
        if schema in found or legacy_schema(tenant) not in found:
            return False
        conn.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(
            sql.Identifier(legacy_schema(tenant)), sql.Identifier(schema)))
        return True
