"""API keys: created and revoked by operators (CLI), checked by the API.

A key is ``bk_`` + 43 url-safe characters (256 random bits). Only its SHA-256
is stored; the key itself is shown once, at creation.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

import asyncpg
import msgspec

KEY_PREFIX = "bk_"


class ApiKey(msgspec.Struct, frozen=True):
    id: int
    tenant_id: str
    name: str
    prefix: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


async def create(conn: asyncpg.Connection, tenant_id: str, name: str = "") -> tuple[ApiKey, str]:
    """A new key for the tenant: (its record, the key itself — shown only now)."""
    if not tenant_id:
        raise ValueError("tenant id must not be empty")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = await conn.fetchrow(
        "INSERT INTO billing.api_keys (tenant_id, name, prefix, key_hash) VALUES ($1, $2, $3, $4)"
        " RETURNING id, tenant_id, name, prefix, created_at, revoked_at",
        tenant_id,
        name,
        key[:10],
        hash_key(key),
    )
    if row is None:
        raise RuntimeError("INSERT … RETURNING gave no row")
    return ApiKey(**dict(row.items())), key


async def list_keys(conn: asyncpg.Connection, tenant_id: str | None = None) -> list[ApiKey]:
    rows = await conn.fetch(
        "SELECT id, tenant_id, name, prefix, created_at, revoked_at FROM billing.api_keys"
        " WHERE $1::text IS NULL OR tenant_id = $1 ORDER BY id",
        tenant_id,
    )
    return [ApiKey(**dict(r.items())) for r in rows]


async def revoke(conn: asyncpg.Connection, key_id: int) -> bool:
    status = await conn.execute(
        "UPDATE billing.api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
        key_id,
    )
    return status.endswith(" 1")


async def tenant_of(conn: asyncpg.Connection | asyncpg.Pool, digest: bytes) -> str | None:
    """The tenant of the active key with this hash (see hash_key), or None."""
    row = await conn.fetchrow(
        "SELECT tenant_id, key_hash FROM billing.api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
        digest,
    )
    # The lookup is by hash; compare again in constant time anyway.
    if row is None or not hmac.compare_digest(bytes(row["key_hash"]), digest):
        return None
    tenant: str = row["tenant_id"]
    return tenant
