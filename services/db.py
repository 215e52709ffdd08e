"""The database: connections, and the migration runner (plain .sql files applied
in name order, each once, recorded in billing.schema_migrations)."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from projections import versions

MIGRATIONS_LOCK = 7_340_000

_BOOKKEEPING = """
CREATE SCHEMA IF NOT EXISTS billing;
CREATE TABLE IF NOT EXISTS billing.schema_migrations (
    name        text        PRIMARY KEY,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
"""


def migration_files() -> list[tuple[str, str]]:
    folder = Path(__file__).with_name("migrations")
    return sorted((path.name, path.read_text()) for path in folder.glob("*.sql"))


async def connect(database_url: str) -> asyncpg.Connection:
    return await asyncpg.connect(database_url)


async def _no_session_state(conn: asyncpg.Connection) -> None:
    """Pooled connections never change session state (no SET, LISTEN, session
    advisory lock or open cursor outside a transaction), so the default reset
    query, one more round trip per request, has nothing to undo. asyncpg still
    rolls back a transaction left open."""


async def create_pool(
    database_url: str, min_size: int, max_size: int, statement_timeout_ms: int | None = None
) -> asyncpg.Pool:
    server_settings = {"statement_timeout": str(statement_timeout_ms)} if statement_timeout_ms else None
    pool = await asyncpg.create_pool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        server_settings=server_settings,
        reset=_no_session_state,
    )
    assert pool is not None
    return pool


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Apply the migrations not applied yet; returns their names. Safe to run
    from several processes at once (an advisory lock serialises them)."""
    applied_now: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATIONS_LOCK)
        await conn.execute(_BOOKKEEPING)
        done = {r["name"] for r in await conn.fetch("SELECT name FROM billing.schema_migrations")}
        for name, sql in migration_files():
            if name in done:
                continue
            await conn.execute(sql)
            await conn.execute("INSERT INTO billing.schema_migrations (name) VALUES ($1)", name)
            applied_now.append(name)
    await versions.ensure_active(conn)
    return applied_now
