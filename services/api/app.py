"""The Litestar application: the API families' routers, auth, request
limits, problem details, OpenAPI at /schema.

Each family (services/api/<family>/) holds its routes, response shapes and
queries and exports a ``router``; adding one is one line in ``FAMILIES``."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Router
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.types import ASGIApp

from services import db
from services.api import contazen, dashboard, flexprice, openapi, ops, partner_center, sequence, stream, v1
from services.api.auth import PUBLIC_PATHS, ApiKeyAuthentication, KeyCache, rate_limit_identity
from services.api.edge import Edge
from services.api.freshness import PositionsCache
from services.api.params import accepted_query_parameters, check_request
from services.api.problems import problem_response
from services.api.request_ids import REQUEST_ID, TRACEPARENT
from services.api.stream.hub import Hub
from services.api.stream.tokens import StreamTokens
from services.api.v1 import customers, series
from services.settings import Settings

FAMILIES: list[Router] = [
    ops.router,
    sequence.router,
    flexprice.router,
    partner_center.router,
    contazen.router,
    v1.router,
    stream.router,
    series.router,
    customers.router,
    dashboard.router,
]

# Litestar reads no body of ours; should a handler ever read one, this caps it
# (check_request already answers 413 to any request that sends a body).
MAX_BODY_BYTES = 1


def create_app(settings: Settings) -> ASGIApp:
    """The Litestar application inside the edge (services/api/edge.py): request
    ids, request metrics, access log."""

    @asynccontextmanager
    async def database(app: Litestar) -> AsyncIterator[None]:
        app.state.pool = await db.create_pool(
            settings.database_url,
            settings.db_pool_min,
            settings.db_pool_max,
            settings.api_statement_timeout_ms,
        )
        # The objects built so far (modules, routes, schemas: ~80,000) live as
        # long as the process; out of the collector's way, a full collection
        # scans only what requests left behind (well under a millisecond)
        # instead of pausing every request in flight for tens of milliseconds.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await app.state.pool.close()

    middleware: list[Any] = []
    if settings.rate_limit_per_second > 0:
        limit = RateLimitConfig(
            rate_limit=("second", settings.rate_limit_per_second),
            identifier_for_request=rate_limit_identity,
            exclude=PUBLIC_PATHS,
        )
        middleware.append(limit.middleware)
    middleware.append(ApiKeyAuthentication)

    app = Litestar(
        route_handlers=FAMILIES,
        lifespan=[database, ops.lifespan, stream.lifespan],
        state=State(
            {
                "settings": settings,
                "key_cache": KeyCache(settings.api_key_cache_seconds),
                "positions": PositionsCache(settings.topic, settings.api_positions_max_age_ms / 1000),
                "stream_hub": Hub(
                    settings.topic,
                    settings.stream_coalesce_ms / 1000,
                    settings.stream_queue_events,
                    settings.stream_max_subscribers,
                ),
                "stream_tokens": StreamTokens(settings.stream_token_seconds, settings.api_key_cache_seconds),
            }
        ),
        middleware=middleware,
        before_request=check_request,
        request_max_body_size=MAX_BODY_BYTES,
        plugins=[openapi.DecimalAsNumber()],
        # Logging is configured once per process (services/logging.py).
        logging_config=None,
        exception_handlers={Exception: problem_response},
        cors_config=(
            # A browser's script may read the ids the answers carry back.
            CORSConfig(allow_origins=list(settings.cors_origins), expose_headers=[REQUEST_ID.name, TRACEPARENT])
            if settings.cors_origins
            else None
        ),
        openapi_config=openapi.config(),
    )
    app.state.query_parameters = accepted_query_parameters(app.routes, openapi.SCHEMA_PATH)
    # The document is built once and served as is: finish it now.
    openapi.finish_document(
        app.plugins.get(OpenAPIPlugin).provide_openapi_schema(), settings, openapi.echoed_ids_by_path(app.routes)
    )
    return Edge(app, access_log=settings.api_access_log)


def app_from_env() -> ASGIApp:
    """Entry point for ASGI servers: ``uvicorn --factory services.api.app:app_from_env``."""
    return create_app(Settings.from_env())
