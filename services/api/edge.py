"""What every request goes through at the edge of the application: its ids,
the request metrics and the access log.

One plain ASGI wrapper around the whole application, so that it sees every
answer — 401s, problems, unmatched routes — and costs one layer (the read
path is measured in microseconds). Per request:

- ``X-Request-ID`` (the caller's when sane, else a new one) and a valid W3C
  ``traceparent`` are echoed on the response, with the ids the route itself
  echoes (services/api/request_ids.py);
- the request id (and trace id) are bound to the request's log context, so
  every line it logs carries them;
- the request metrics (services/api/request_metrics.py) count it;
- one log line ``request`` (when ``BILLING_API_ACCESS_LOG`` is on): method,
  route template (``(no route)`` for none: never the raw path, which holds
  ids), status, duration in milliseconds (to the last byte of the answer),
  tenant (once its API key is known; never the key), request id, trace id
  and the client's address.

The lines are written together, in one write, at most ``FLUSH_SECONDS``
after their request ended (stamped with the time it did), and when the
application shuts down: logging each one from inside its request cost several
times as much (its code is cold by then, and each line was a write).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from services.api.request_ids import REQUEST_ID, TRACEPARENT, new_hex_id, route_echoed_ids, sane_id, trace_id
from services.api.request_metrics import EXCLUDED, NO_ROUTE, RequestMetrics
from services.logging import batched, context_var, get_logger

FLUSH_SECONDS = 0.05

_REQUEST_ID = REQUEST_ID.key
_TRACEPARENT = TRACEPARENT.encode()
# Every line logged while a request runs carries these (structlog's context-local context).
_REQUEST_ID_VAR = context_var("request_id")
_TRACE_ID_VAR = context_var("trace_id")

# An access log line: when the request ended, method, route, status,
# duration (ms), tenant, request id, trace id, client address.
Line = tuple[float, str, str, int, float, str | None, str, str | None, str | None]


class Edge:
    def __init__(self, app: ASGIApp, *, access_log: bool = True) -> None:
        self.app = app
        self.metrics = RequestMetrics()
        self.access_log = access_log
        # Bound once: the process configures logging before it builds the application.
        self.log = get_logger("api.access").bind()
        self._lines: list[Line] = []
        self._flush_soon: asyncio.TimerHandle | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            # (Litestar's Scope type leaves out the lifespan's.)
            lifespan = str(scope["type"]) == "lifespan"
            await self.app(scope, receive, self._flushing_at_shutdown(send) if lifespan else send)
            return
        started = time.perf_counter()
        method = scope["method"]
        given_id = traceparent = None
        for name, value in scope["headers"]:
            # The first of repeated headers.
            if name == _REQUEST_ID:
                if given_id is None:
                    given_id = value
            elif name == _TRACEPARENT and traceparent is None:
                traceparent = value
        request_id = sane_id(given_id) or new_hex_id()
        trace = trace_id(traceparent)
        echoed = [(_REQUEST_ID, request_id.encode())]
        if trace is not None and traceparent is not None:
            echoed.append((_TRACEPARENT, traceparent))
        # A request that raises past the application never got an answer.
        status = 500
        answered: float | None = None

        async def answer(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", ()), *echoed]
                for extra in route_echoed_ids(scope):
                    headers.append((extra.key, extra.value(extra.find(scope["headers"])).encode()))
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                answered = time.perf_counter()
            await send(message)

        running = None if scope["path"] in EXCLUDED else self.metrics.running(method)
        if running is not None:
            running.inc()
        request_token = _REQUEST_ID_VAR.set(request_id)
        trace_token = None if trace is None else _TRACE_ID_VAR.set(trace)
        try:
            await self.app(scope, receive, answer)
        finally:
            if trace_token is not None:
                _TRACE_ID_VAR.reset(trace_token)
            _REQUEST_ID_VAR.reset(request_token)
            seconds = (time.perf_counter() if answered is None else answered) - started
            # Routing writes the matched template into the scope.
            route = scope.get("path_template") or NO_ROUTE
            if running is not None:
                running.dec()
                self.metrics.observe(method, route, status, seconds)
            if self.access_log:
                user: Any = scope.get("user")
                client = scope.get("client")
                self._lines.append(
                    (
                        time.time(),
                        method,
                        route,
                        status,
                        round(seconds * 1000, 3),
                        user if isinstance(user, str) else None,
                        request_id,
                        trace,
                        client[0] if client else None,
                    )
                )
                if self._flush_soon is None:
                    self._flush_soon = asyncio.get_running_loop().call_later(FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        """Write the access log lines of the requests that ended since the last flush."""
        if self._flush_soon is not None:
            self._flush_soon.cancel()
            self._flush_soon = None
        lines, self._lines = self._lines, []
        info = self.log.info
        with batched():
            for ended, method, route, status, duration_ms, tenant, request_id, trace, client in lines:
                info(
                    "request",
                    method=method,
                    route=route,
                    status=status,
                    duration_ms=duration_ms,
                    tenant=tenant,
                    request_id=request_id,
                    trace_id=trace,
                    client=client,
                    timestamp=ended,
                )

    def _flushing_at_shutdown(self, send: Send) -> Send:
        async def flushing(message: Message) -> None:
            if str(message["type"]) in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                self.flush()
            await send(message)

        return flushing
