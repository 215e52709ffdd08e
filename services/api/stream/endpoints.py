"""GET /v1/stream (Server-Sent Events of the tenant's changes) and
POST /v1/stream/tokens (a token to open it from a browser)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Annotated, Any

import asyncpg
from litestar import Request, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.response import Stream

from services.api.auth import keys_from_headers
from services.api.freshness import read_positions
from services.api.params import Param
from services.api.problems import ApiProblem, problem_responses
from services.api.stream import frames
from services.api.stream.hub import Hub, Subscriber, TenantLog, beyond, parse_event_id
from services.api.stream.schemas import StreamEvent, StreamToken
from services.api.stream.tokens import STREAM_PATH, TOKEN_PARAMETER, StreamTokens
from services.settings import Settings

TOKEN = Param(
    TOKEN_PARAMETER,
    "A stream token from `POST /v1/stream/tokens`, for a client that cannot send its API key in a header "
    "(a browser's `EventSource`). Never put the API key itself in a URL.",
    {"pattern": "^st1\\.[0-9]+\\.[0-9]+\\.[A-Za-z0-9_-]+$"},
)
Token = Annotated[str | None, TOKEN.query()]
LAST_EVENT_ID = Param(
    "Last-Event-ID",
    "The id of the last event received (browsers send it when they reconnect): the events missed since are "
    "sent at once, as one `change`, or a `refetch` when they are not known.",
)
LastEventId = Annotated[str | None, LAST_EVENT_ID.header()]

EVENT_STREAM = "text/event-stream"
STREAM_DESCRIPTION = """Server-Sent Events of the tenant's changes, for dashboards that update without polling
(docs/stream.md). Authenticated like every endpoint, or with `?token=` from `POST /v1/stream/tokens`.

Events (`event:` field; `data:` is one JSON object):

- `ready` — first, once the subscription is live: `{"position"}`. Its `id` is that position (no `id` when the
  client resumes with `Last-Event-ID`).
- `change` — the tenant's figures changed: `{"position", "currencies": ["EUR", …], "customers": ["c-1", …]}`,
  `customers` being `"many"` when too many changed to list. Changes within 250 ms are coalesced into one event.
- `refetch` — what changed is not known: `{"position", "reason"}` (`overflow`: the client fell behind;
  `reconnect`: the API lost its notices for a moment; `switch-over`: a rebuilt version now serves; `resume`: the
  missed events are no longer known). Read everything again.
- `: heartbeat` comment lines keep idle connections open.

Every event's `id` and `position` is a position its figures reflect at least, in the format of
`X-Projection-Position`: pass it as `minPosition` and the answer includes the change. Only the tenant's own
changes are sent."""


EXAMPLE = (
    frames.ready("invoice-events:0=1042,invoice-events:1=998", resumed=False)
    + frames.change("invoice-events:0=1050,invoice-events:1=998", ["EUR"], ["cus-7"])
    + frames.HEARTBEAT
).decode()


def _resume(hub: Hub, log: TenantLog, last_event_id: str) -> bytes | None:
    """The event catching a client up from its Last-Event-ID (None: nothing missed)."""
    since = parse_event_id(last_event_id, hub.topic)
    if since is not None and not beyond(log.position, since):
        return None
    missed = None if since is None else log.missed(since)
    if missed is None:
        return frames.refetch(hub.token(log.position), "resume")
    return hub.change_frame(missed)


async def _events(
    hub: Hub, tenant: str, subscriber: Subscriber, first: list[bytes], heartbeat: float, life: float
) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    ends = loop.time() + life
    try:
        for frame in first:
            yield frame
        while (left := ends - loop.time()) > 0:
            if not subscriber.frames:
                subscriber.wake.clear()
                try:
                    async with asyncio.timeout(min(heartbeat, left)):
                        await subscriber.wake.wait()
                except TimeoutError:
                    if loop.time() < ends:
                        yield frames.HEARTBEAT
                    continue
            yield subscriber.take()
    finally:
        hub.unsubscribe(tenant, subscriber)


@get(
    STREAM_PATH,
    summary="Live changes of the tenant's figures (Server-Sent Events)",
    operation_id="getStream",
    description=STREAM_DESCRIPTION,
    media_type=EVENT_STREAM,
    responses={
        200: ResponseSpec(
            StreamEvent,
            description="The event stream (text/event-stream)",
            media_type=EVENT_STREAM,
            generate_examples=False,
            examples=[Example(summary="A ready event, a change and a heartbeat", value=EXAMPLE)],
        ),
        **problem_responses(503),
    },
)
async def stream(request: Request[Any, Any, Any], token: Token = None, last_event_id: LastEventId = None) -> Stream:
    """(``token`` is checked by the authentication, before this runs.)"""
    del token
    settings: Settings = request.app.state.settings
    hub: Hub = request.app.state.stream_hub
    if hub.subscribers >= hub.max_subscribers:
        raise ApiProblem(
            503,
            "Too many subscribers",
            f"this process serves {hub.max_subscribers} streams",
            headers={"Retry-After": "5"},
        )
    tenant: str = request.user
    subscriber, log, new = hub.subscribe(tenant)
    try:
        if new:
            pool: asyncpg.Pool = request.app.state.pool
            hub.start(log, (await read_positions(pool, hub.topic)).next_offsets)
    except BaseException:
        hub.unsubscribe(tenant, subscriber)
        raise
    first = [frames.ready(hub.token(log.position), resumed=last_event_id is not None)]
    if last_event_id is not None:
        caught_up = _resume(hub, log, last_event_id)
        if caught_up is not None:
            first.append(caught_up)
    return Stream(
        _events(hub, tenant, subscriber, first, settings.stream_heartbeat_seconds, settings.stream_max_seconds),
        media_type=EVENT_STREAM,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@post(
    STREAM_PATH + "/tokens",
    status_code=200,
    summary="A short-lived token to open the stream from a browser",
    operation_id="createStreamToken",
    responses=problem_responses(),
)
async def stream_token(request: Request[Any, Any, Any]) -> StreamToken:
    """A token for `GET /v1/stream?token=…`, for clients that cannot send
    headers (a browser's `EventSource`): good for the tenant of the API key
    this request presents, for a few minutes (`expiresIn`), and only while
    that key is active. Send the key in a header here; never put it in a URL."""
    tokens: StreamTokens = request.app.state.stream_tokens
    presented = keys_from_headers(request.headers.get("authorization"), request.headers.get("x-api-key"))
    token, expires = await tokens.mint(request.app.state.pool, request.user, presented)
    return StreamToken(
        token=token,
        expiresAt=dt.datetime.fromtimestamp(expires, dt.UTC),
        expiresIn=tokens.lifetime,
        url=f"{STREAM_PATH}?{TOKEN_PARAMETER}={token}",
    )
