"""The Litestar application: routes, auth, problem details, OpenAPI at /schema."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController

from services import db
from services.api.auth import PUBLIC_PATHS, ApiKeyAuthentication, KeyCache
from services.api.problems import problem_response
from services.api.routes import contazen, flexprice, ops, partner_center, sequence, v1
from services.settings import Settings

KEY_CACHE_SECONDS = 5.0


def create_app(settings: Settings) -> Litestar:
    @asynccontextmanager
    async def database(app: Litestar) -> AsyncIterator[None]:
        app.state.pool = await db.create_pool(
            settings.database_url, settings.db_pool_min, settings.db_pool_max
        )
        try:
            yield
        finally:
            await app.state.pool.close()

    prometheus = PrometheusConfig(
        app_name="invoice-summaries", prefix="billing_api", group_path=True, exclude=["^/metrics$"]
    )

    class Metrics(PrometheusController):
        path = "/metrics"

    return Litestar(
        route_handlers=[
            ops.live,
            ops.ready,
            ops.projections_status,
            Metrics,
            sequence.invoices_summary,
            sequence.invoices_list_summary,
            flexprice.customer_invoice_summary,
            partner_center.invoice_summaries,
            contazen.invoice_totals,
            v1.summary,
            v1.customer_summary,
            v1.list_invoices,
            v1.get_invoice,
        ],
        lifespan=[database, ops.lag_watch],
        state=State({"settings": settings, "key_cache": KeyCache(KEY_CACHE_SECONDS)}),
        middleware=[prometheus.middleware, DefineMiddleware(ApiKeyAuthentication, exclude=PUBLIC_PATHS)],
        # Logging is configured once per process (services/logging.py).
        logging_config=None,
        exception_handlers={Exception: problem_response},
        cors_config=CORSConfig(allow_origins=list(settings.cors_origins)) if settings.cors_origins else None,
        openapi_config=OpenAPIConfig(
            title="Invoice summaries",
            version="1.0.0",
            description="Exact invoice totals per currency and customer, from invoice lifecycle events.",
            path="/schema",
            render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(type="http", scheme="bearer"),
                    "basic": SecurityScheme(type="http", scheme="basic"),
                    "apiKey": SecurityScheme(type="apiKey", name="x-api-key", security_scheme_in="header"),
                }
            ),
            security=[{"bearer": []}, {"basic": []}, {"apiKey": []}],
        ),
    )


def app_from_env() -> Litestar:
    """Entry point for ASGI servers: ``uvicorn --factory services.api.app:app_from_env``."""
    return create_app(Settings.from_env())
