"""The Litestar application: routes, auth, problem details, OpenAPI at /schema."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

from litestar import Litestar
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, OpenAPIType, Schema, SecurityScheme
from litestar.plugins import OpenAPISchemaPlugin
from litestar.plugins.prometheus import PrometheusController
from litestar.types import ASGIApp
from litestar.typing import FieldDefinition

from services import db
from services.api.auth import PUBLIC_PATHS, ApiKeyAuthentication, KeyCache, rate_limit_identity
from services.api.freshness import PositionsCache
from services.api.params import check_request, parameter_schema
from services.api.problems import problem_response
from services.api.request_metrics import RequestMetrics
from services.api.routes import contazen, flexprice, ops, partner_center, sequence, v1
from services.settings import Settings

# Litestar reads no body of ours; should a handler ever read one, this caps it
# (check_request already answers 413 to any request that sends a body).
MAX_BODY_BYTES = 1


class DecimalAsNumber(OpenAPISchemaPlugin):
    """Responses render Decimals as exact JSON numbers (services/api/reading.py):
    document them as numbers, not as Litestar's default strings."""

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return field_definition.annotation is Decimal

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Schema:
        return Schema(type=OpenAPIType.NUMBER)


# What the document keeps of the schema Litestar derives from a parameter's
# annotation and schema_extra (the rest comes from params.parameter_schema).
_KEPT = ("type", "enum", "minimum", "maximum", "format", "description")


def finish_document(document: dict[str, Any], settings: Settings) -> None:
    """Make the generated OpenAPI document say what the API does: parameters
    are plain values (never null) with their real formats and limits; the
    public operations need no key; /metrics answers Prometheus text."""
    public = [re.compile(pattern) for pattern in PUBLIC_PATHS]
    for path, item in document.get("paths", {}).items():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                if parameter.get("in") not in ("query", "path"):
                    continue
                derived = parameter.get("schema", {})
                schema = parameter_schema(parameter["name"], settings)
                schema.update({k: v for k, v in derived.items() if k in _KEPT})
                if schema["type"] != "string":
                    for key in ("maxLength", "minLength", "pattern"):
                        schema.pop(key, None)
                parameter["schema"] = schema
            if any(p.match(path) for p in public):
                operation["security"] = []
            if path == "/metrics":
                operation["responses"] = {
                    "200": {
                        "description": "Prometheus text exposition format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                }


def create_app(settings: Settings) -> ASGIApp:
    """The Litestar application inside the request metrics (services/api/request_metrics.py)."""

    @asynccontextmanager
    async def database(app: Litestar) -> AsyncIterator[None]:
        app.state.pool = await db.create_pool(
            settings.database_url,
            settings.db_pool_min,
            settings.db_pool_max,
            settings.api_statement_timeout_ms,
        )
        try:
            yield
        finally:
            await app.state.pool.close()

    class Metrics(PrometheusController):
        path = "/metrics"

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
        state=State(
            {
                "settings": settings,
                "key_cache": KeyCache(settings.api_key_cache_seconds),
                "positions": PositionsCache(settings.topic, settings.api_positions_max_age_ms / 1000),
            }
        ),
        middleware=middleware,
        before_request=check_request,
        request_max_body_size=MAX_BODY_BYTES,
        plugins=[DecimalAsNumber()],
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
    # The document is built once and served as is: finish it now.
    finish_document(app.plugins.get(OpenAPIPlugin).provide_openapi_schema(), settings)
    return RequestMetrics(app)


def app_from_env() -> ASGIApp:
    """Entry point for ASGI servers: ``uvicorn --factory services.api.app:app_from_env``."""
    return create_app(Settings.from_env())
