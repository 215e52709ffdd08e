"""API-key authentication: ``Authorization: Bearer <key>``, ``Authorization:
Basic base64(<user>:<password>)`` and ``x-api-key: <key>``. The key decides
the tenant; every query is scoped to it. Keys are never logged.

Basic credentials carry the key as the user name (``base64(key:)``, our and
Sequence's documented style) or as the password (``base64(:key)``,
``base64(clientId:key)``: Sequence's ``clientId:secret`` style). The user name
is tried first; when it is empty or not an active key, the password. Either
way, every failure is the same 401.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from typing import Any

from litestar import Request
from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException
from litestar.types import ASGIApp, Receive, Scope, Send

from services import keys

# Paths served without a key.
# /dashboard is the page and its files; its data calls carry the key.
PUBLIC_PATHS = ["^/schema", "^/health", "^/metrics$", "^/dashboard"]


def keys_from_headers(authorization: str | None, x_api_key: str | None) -> tuple[str, ...]:
    """The presented keys, in the order to try them (Basic: the user name,
    then the password; otherwise one), or NotAuthorizedException saying what
    is wrong."""
    if x_api_key:
        return (x_api_key.strip(),)
    if not authorization:
        raise NotAuthorizedException("missing API key: send Authorization: Bearer <key> or x-api-key")
    scheme, _, credentials = authorization.strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer" and credentials:
        return (credentials,)
    if scheme.lower() == "basic" and credentials:
        try:
            user, _, password = base64.b64decode(credentials, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise NotAuthorizedException("malformed Basic credentials") from None
        presented = tuple(dict.fromkeys(part for part in (user, password) if part))
        if presented:
            return presented
    raise NotAuthorizedException("malformed Authorization header: use Bearer <key> or Basic")


def rate_limit_key(presented: tuple[str, ...]) -> str:
    """Which of the presented keys a request counts against: the one shaped
    like our keys (``bk_…``) if any (so a Basic password key is counted as
    itself, whatever user name comes with it), else the first."""
    return next((key for key in presented if key.startswith(keys.KEY_PREFIX)), presented[0])


class KeyCache:
    """Recent key lookups (by hash), so a hot client costs no query per request.
    Revocation takes effect within ``ttl`` seconds."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[bytes, tuple[str | None, float]] = {}

    def get(self, digest: bytes) -> tuple[bool, str | None]:
        entry = self._entries.get(digest)
        if entry is None or entry[1] < time.monotonic():
            return False, None
        return True, entry[0]

    def put(self, digest: bytes, tenant: str | None) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[digest] = (tenant, time.monotonic() + self.ttl)


def rate_limit_identity(request: Request[Any, Any, Any]) -> str:
    """Whom a request counts against for rate limiting: the SHA-256 of its API
    key (never the key itself), or the client address when it presents none."""
    try:
        presented = keys_from_headers(request.headers.get("authorization"), request.headers.get("x-api-key"))
    except NotAuthorizedException:
        return "address:" + (request.client.host if request.client else "unknown")
    return "key:" + keys.hash_key(rate_limit_key(presented)).hex()


_PUBLIC = re.compile("|".join(PUBLIC_PATHS))


class ApiKeyAuthentication:
    """Sets the request's user to the key's tenant, or answers 401. A plain
    ASGI middleware reading the raw headers: Litestar's authentication base
    class cost a twentieth of a summary request. CORS preflights (OPTIONS)
    and the public paths need no key."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and scope["method"] != "OPTIONS" and not _PUBLIC.match(scope["path"]):
            scope["user"] = await self._tenant(scope)
            scope["auth"] = None
        await self.app(scope, receive, send)

    async def _tenant(self, scope: Scope) -> str:
        # The first of repeated headers, as Litestar's headers (and so the
        # rate limiter's identity) take it.
        authorization = x_api_key = None
        for name, value in scope["headers"]:
            if name == b"x-api-key" and x_api_key is None:
                x_api_key = value.decode("latin-1")
            elif name == b"authorization" and authorization is None:
                authorization = value.decode("latin-1")
        state = scope["litestar_app"].state
        if authorization is None and x_api_key is None:
            # A browser's EventSource cannot send headers: on the stream's
            # path, a stream token stands in for the key (services/api/stream/tokens.py).
            streaming: str | None = await state.stream_tokens.tenant_of_request(scope, state.pool)
            if streaming is not None:
                return streaming
        cache: KeyCache = state.key_cache
        for key in keys_from_headers(authorization, x_api_key):
            digest = keys.hash_key(key)
            found, tenant = cache.get(digest)
            if not found:
                tenant = await keys.tenant_of(state.pool, digest)
                cache.put(digest, tenant)
            if tenant is not None:
                return tenant
        raise NotAuthorizedException("unknown or revoked API key")
