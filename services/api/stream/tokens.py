"""Stream tokens: what a browser's EventSource, which cannot send headers,
presents instead of its API key (``GET /v1/stream?token=…``).

``st1.<key id>.<expiry, unix seconds>.<signature>``: the signature is an
HMAC-SHA256 of the rest keyed by the stored hash of the API key that minted
it. So a token names no tenant and holds no secret; it is good for
``stream_token_seconds``, for the tenant of that key only, and only while the
key is active (a revoked key's tokens stop working with it). Any API process
verifies any process's token with one lookup of the key (remembered as API
keys are): no shared secret to configure. The key itself never goes into a
URL, and the access log never prints a query string.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Sequence
from urllib.parse import parse_qsl

import asyncpg
from litestar.exceptions import NotAuthorizedException
from litestar.types import Scope

from services import keys

VERSION = "st1"
# The path that takes a token in place of a key, and its query parameter.
STREAM_PATH = "/v1/stream"
TOKEN_PARAMETER = "token"

_KEY_BY_ID = "SELECT tenant_id, key_hash FROM billing.api_keys WHERE id = $1 AND revoked_at IS NULL"
_KEY_BY_HASH = (
    "SELECT id, key_hash FROM billing.api_keys"
    " WHERE key_hash = ANY($1::bytea[]) AND tenant_id = $2 AND revoked_at IS NULL ORDER BY id LIMIT 1"
)


def _signature(key_hash: bytes, signed: str) -> str:
    digest = hmac.new(key_hash, signed.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign(key_id: int, key_hash: bytes, expires: int) -> str:
    signed = f"{VERSION}.{key_id}.{expires}"
    return f"{signed}.{_signature(key_hash, signed)}"


class StreamTokens:
    """Mints and verifies tokens; remembers key lookups for ``cache_seconds``."""

    def __init__(self, lifetime_seconds: int, cache_seconds: float) -> None:
        self.lifetime = lifetime_seconds
        self.cache_seconds = cache_seconds
        self._keys: dict[int, tuple[tuple[str, bytes] | None, float]] = {}

    async def mint(self, pool: asyncpg.Pool, tenant: str, presented: Sequence[str]) -> tuple[str, int]:
        """(token, expiry in unix seconds) for the active key of ``tenant``
        among the presented ones (the request was authenticated with it)."""
        row = await pool.fetchrow(_KEY_BY_HASH, [keys.hash_key(key) for key in presented], tenant)
        if row is None:
            raise NotAuthorizedException("unknown or revoked API key")
        expires = int(time.time()) + self.lifetime
        return sign(row["id"], bytes(row["key_hash"]), expires), expires

    async def tenant(self, pool: asyncpg.Pool, token: str) -> str:
        """The tenant a token is good for, or NotAuthorizedException saying why not."""
        version, _, rest = token.partition(".")
        key_id, _, rest = rest.partition(".")
        expires, _, signature = rest.partition(".")
        if (
            version != VERSION
            or not (key_id.isascii() and key_id.isdigit())
            or not (expires.isascii() and expires.isdigit())
        ):
            raise NotAuthorizedException("malformed stream token")
        key = await self._key(pool, int(key_id))
        if key is None or not hmac.compare_digest(_signature(key[1], f"{version}.{key_id}.{expires}"), signature):
            raise NotAuthorizedException("invalid stream token")
        if int(expires) <= time.time():
            raise NotAuthorizedException("expired stream token: get a new one from POST /v1/stream/tokens")
        return key[0]

    async def tenant_of_request(self, scope: Scope, pool: asyncpg.Pool) -> str | None:
        """The tenant of the stream token of a request to the stream's path
        that carries one (else None: the request needs its key)."""
        if scope["path"] != STREAM_PATH:
            return None
        token = token_in_query(scope.get("query_string", b""))
        return None if token is None else await self.tenant(pool, token)

    async def _key(self, pool: asyncpg.Pool, key_id: int) -> tuple[str, bytes] | None:
        if key_id > 2**63 - 1:
            return None
        cached = self._keys.get(key_id)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        row = await pool.fetchrow(_KEY_BY_ID, key_id)
        key = None if row is None else (str(row["tenant_id"]), bytes(row["key_hash"]))
        if self.cache_seconds > 0:
            if len(self._keys) > 10_000:
                self._keys.clear()
            self._keys[key_id] = (key, time.monotonic() + self.cache_seconds)
        return key


def token_in_query(query_string: bytes) -> str | None:
    """The first ``token`` query parameter, if any."""
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if name == TOKEN_PARAMETER:
            return value
    return None
