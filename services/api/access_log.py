"""The access log and the ids every response carries back.

A plain ASGI wrapper around the whole application (like the request metrics,
services/api/request_metrics.py), so that it sees every answer — 401s,
problems, unmatched routes — and costs little on the read path. Per request:

- ``X-Request-ID`` (the caller's when sane, else a new one) and a valid W3C
  ``traceparent`` are echoed on the response, with the ids the route itself
  echoes (services/api/request_ids.py);
- the request id (and trace id) are bound to the request's log context, so
  every line it logs carries them;
- one log line ``request`` (when ``BILLING_API_ACCESS_LOG`` is on): method,
  route template (``(no route)`` for none: never the raw path, which holds
  ids), status, duration in milliseconds, tenant (once its API key is known;
  never the key), request id, trace id and the client's address.
"""

from __future__ import annotations

import time
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from structlog.contextvars import bind_contextvars, reset_contextvars

from services.api.request_ids import REQUEST_ID, TRACEPARENT, route_echoed_ids, sane_id, trace_id
from services.api.request_metrics import NO_ROUTE
from services.logging import get_logger

_REQUEST_ID = REQUEST_ID.key
_TRACEPARENT = TRACEPARENT.encode()


class AccessLog:
    def __init__(self, app: ASGIApp, *, enabled: bool = True) -> None:
        self.app = app
        self.enabled = enabled
        self.log = get_logger("api.access").bind()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        given_id = traceparent = None
        for name, value in scope["headers"]:
            # The first of repeated headers.
            if name == _REQUEST_ID:
                if given_id is None:
                    given_id = value
            elif name == _TRACEPARENT and traceparent is None:
                traceparent = value
        request_id = sane_id(given_id) or REQUEST_ID.make()
        trace = trace_id(traceparent)
        echoed = [(_REQUEST_ID, request_id.encode())]
        if trace is not None and traceparent is not None:
            echoed.append((_TRACEPARENT, traceparent))
        # A request that raises past the application never got an answer.
        status = 500

        async def send_with_ids(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", ()), *echoed]
                for extra in route_echoed_ids(scope):
                    headers.append((extra.key, extra.value(extra.find(scope["headers"])).encode()))
                message = {**message, "headers": headers}
            await send(message)

        tokens = (
            bind_contextvars(request_id=request_id)
            if trace is None
            else bind_contextvars(request_id=request_id, trace_id=trace)
        )
        try:
            await self.app(scope, receive, send_with_ids)
        finally:
            reset_contextvars(**tokens)
            if self.enabled:
                self._log(scope, scope["method"], status, started, request_id, trace)

    def _log(self, scope: Scope, method: str, status: int, started: float, request_id: str, trace: str | None) -> None:
        user: Any = scope.get("user")
        client = scope.get("client")
        self.log.info(
            "request",
            method=method,
            route=scope.get("path_template") or NO_ROUTE,
            status=status,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
            tenant=user if isinstance(user, str) else None,
            request_id=request_id,
            trace_id=trace,
            client=client[0] if client else None,
        )
