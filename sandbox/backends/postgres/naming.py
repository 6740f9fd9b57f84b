"""Schema names for hosted tenants' stores: readable, never cut, never shared.

PostgreSQL cuts identifiers at 63 bytes, so ``tenant_<name>`` gave two long
names with a common prefix one schema, and a tenant deleted and made again
under its name found the old one's schema. A store's schema is a readable
prefix of the name plus a digest of the full name and the tenant's
*generation* (what tells a tenant made again from the one before it).
"""

from __future__ import annotations

import hashlib
import re

#: Characters of the tenant's name kept in the schema name, to read it in psql.
READABLE = 40
#: Hex digits of sha256(name, generation): 64 bits, no collision among any tenants.
DIGEST = 16


def store_schema(tenant: str, generation: str = "") -> str:
    """``t_<readable name>_<digest>``: at most 2 + 40 + 1 + 16 = 59 bytes (< 63)."""
    readable = re.sub(r"[^a-z0-9]", "_", tenant.lower())[:READABLE]
    digest = hashlib.sha256(f"{tenant}\0{generation}".encode()).hexdigest()[:DIGEST]
    return f"t_{readable}_{digest}"
