"""Projection versions: each lives in its own schema (proj_<n>); exactly one is
active. The API reads the active one through views in ``billing_read``; workers
write to it by name. Switching the active version happens in one transaction
under an exclusive advisory lock that every worker batch takes shared, so no
batch straddles a switch.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import asyncpg
import msgspec

from projections import notify

DDL = (Path(__file__).with_name("schema.sql")).read_text()
DDL_HASH = hashlib.sha256(DDL.encode()).hexdigest()[:16]


class Index(msgspec.Struct, frozen=True):
    name: str
    table: str
    statement: str  # CREATE INDEX IF NOT EXISTS, for schema {schema}


# The secondary indexes of the DDL: a rebuild's bulk load drops them and builds
# each once after its COPYs, rather than updating them entry by entry per row.
INDEXES: tuple[Index, ...] = tuple(
    Index(match["name"], match["table"], match[0].replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS", 1))
    for match in re.finditer(r"^CREATE INDEX (?P<name>\w+) ON {schema}\.(?P<table>\w+).*?;", DDL, re.M | re.S)
)
READ_SCHEMA = "billing_read"
# Taken shared by every worker batch, exclusively by a switch.
SWITCH_LOCK = 7_340_001

# The one query of a version row (the fields of ``Version``); ``{where}`` picks it.
VERSION = "SELECT version, schema_name, status, ddl_hash, applied_seq FROM billing.projection_versions WHERE {where}"
ACTIVE = VERSION.format(where="status = 'active'")
BUILDING = VERSION.format(where="status = 'building'")
NUMBERED = VERSION.format(where="version = $1")
TABLES = """
SELECT table_name FROM information_schema.tables
WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY table_name
"""


class Version(msgspec.Struct, frozen=True):
    version: int
    schema_name: str
    status: str
    ddl_hash: str
    applied_seq: int


class NoActiveVersion(Exception):
    """The database has no active projection version: run `billing migrate`."""


async def _version(conn: asyncpg.Connection, query: str, *args: object) -> Version | None:
    row = await conn.fetchrow(query, *args)
    return None if row is None else Version(**dict(row.items()))


async def active(conn: asyncpg.Connection) -> Version:
    version = await _version(conn, ACTIVE)
    if version is None:
        raise NoActiveVersion("no active projection version: run `billing migrate` first")
    return version


async def building(conn: asyncpg.Connection) -> Version | None:
    """The version being built (replay), if any."""
    return await _version(conn, BUILDING)


async def numbered(conn: asyncpg.Connection, number: int) -> Version | None:
    return await _version(conn, NUMBERED, number)


async def lock_shared(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", SWITCH_LOCK)


async def create(conn: asyncpg.Connection) -> Version:
    """A new, empty version (status 'building') with the current DDL."""
    async with conn.transaction():
        number = await conn.fetchval("SELECT coalesce(max(version), 0) + 1 FROM billing.projection_versions")
        schema = f"proj_{number}"
        await conn.execute(f"CREATE SCHEMA {schema}")
        await conn.execute(DDL.replace("{schema}", schema))
        await conn.execute(
            "INSERT INTO billing.projection_versions (version, schema_name, status, ddl_hash)"
            " VALUES ($1, $2, 'building', $3)",
            number,
            schema,
            DDL_HASH,
        )
    return Version(number, schema, "building", DDL_HASH, 0)


async def drop_indexes(conn: asyncpg.Connection, version: Version) -> None:
    """Drop the version's secondary indexes (a bulk load into empty tables follows)."""
    names = ", ".join(f"{version.schema_name}.{index.name}" for index in INDEXES)
    await conn.execute(f"DROP INDEX IF EXISTS {names}")


async def switch_to(conn: asyncpg.Connection, version: Version) -> None:
    """Make ``version`` active and point the read views at it. Call inside a
    transaction holding the exclusive SWITCH_LOCK."""
    await conn.execute(
        "UPDATE billing.projection_versions SET status = 'retired', retired_at = now() WHERE status = 'active'"
    )
    await conn.execute(
        "UPDATE billing.projection_versions SET status = 'active', promoted_at = now() WHERE version = $1",
        version.version,
    )
    await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {READ_SCHEMA}")
    for row in await conn.fetch(TABLES, version.schema_name):
        table = row["table_name"]
        # DROP + CREATE rather than CREATE OR REPLACE: a new version may change columns.
        await conn.execute(f"DROP VIEW IF EXISTS {READ_SCHEMA}.{table}")
        await conn.execute(f"CREATE VIEW {READ_SCHEMA}.{table} AS SELECT * FROM {version.schema_name}.{table}")
    # Every figure may have changed: subscribers of the live stream read them again.
    await notify.refetch_everything(conn, "switch-over")


async def ensure_active(conn: asyncpg.Connection) -> Version:
    """The active version, creating and activating the first one on a new database."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", SWITCH_LOCK)
        found = await _version(conn, ACTIVE)
        if found is not None:
            return found
        version = await create(conn)
        await switch_to(conn, version)
        return await active(conn)
