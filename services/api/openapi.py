"""The OpenAPI document at /schema: its configuration, and what makes it say
what the API does once Litestar has generated it."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, OpenAPIType, Schema, SecurityScheme
from litestar.plugins import OpenAPISchemaPlugin
from litestar.router import Router
from litestar.routes import BaseRoute, HTTPRoute
from litestar.static_files import create_static_files_router
from litestar.types import Method
from litestar.types.internal_types import PathParameterDefinition
from litestar.typing import FieldDefinition
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]  # ships no types

from services.api import params
from services.api.auth import PUBLIC_PATHS
from services.api.problems import JSON, PROBLEM_JSON
from services.api.request_ids import (
    ECHOED_IDS,
    MAX_ID_LENGTH,
    REQUEST_ID,
    TRACEPARENT,
    TRACEPARENT_DESCRIPTION,
    EchoedId,
)
from services.settings import Settings

# Where the document and its browsable pages are served.
SCHEMA_PATH = "/schema"

# Swagger UI's files, from the pinned package that ships them, below the
# document's own path: the reference pages load nothing from elsewhere.
SWAGGER_ASSETS = "/assets/swagger-ui"

# What the generated schema of a component cannot say (e.g. JSON Schema
# ``patternProperties`` for fields named after a value), by component name:
# merged into it by finish_document. Families register theirs on import.
SCHEMA_EXTENSIONS: dict[str, dict[str, Any]] = {}


class DecimalAsNumber(OpenAPISchemaPlugin):
    """Responses render Decimals as exact JSON numbers (services/api/reading.py):
    document them as numbers, not as Litestar's default strings."""

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return field_definition.annotation is Decimal

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Schema:
        return Schema(type=OpenAPIType.NUMBER)


def vendor_paths(path: str, prefix: str, operation_id: str) -> dict[str, Any]:
    """Route arguments serving ``path`` (a seed page's) also under the prefix
    the vendor's SDK or documentation puts before it (``/v1``, ``/api``): one
    handler, two paths, and operation ids ``operation_id`` and
    ``operation_id`` + the prefix (``getCustomerInvoiceSummaryV1``)."""
    prefix_parts = [part for part in prefix.split("/") if part]
    prefixed_id = operation_id + "".join(part.title() for part in prefix_parts)

    def create(handler: HTTPRouteHandler, method: Method, components: list[str | PathParameterDefinition]) -> str:
        return prefixed_id if components[: len(prefix_parts)] == prefix_parts else operation_id

    return {"path": [path, prefix + path], "operation_id": create}


class OfflineSwagger(SwaggerRenderPlugin):
    """Swagger UI at /schema and /schema/swagger with its JavaScript, CSS and
    icon served by the API itself (Litestar's default loads them from a CDN)."""

    def __init__(self) -> None:
        assets = SCHEMA_PATH + SWAGGER_ASSETS
        super().__init__(
            path=["/", "/swagger"],
            js_url=f"{assets}/swagger-ui-bundle.js",
            css_url=f"{assets}/swagger-ui.css",
            standalone_preset_js_url=f"{assets}/swagger-ui-standalone-preset.js",
            favicon=f"<link rel='icon' type='image/png' href='{assets}/favicon-32x32.png'>",
        )

    def receive_router(self, router: Router) -> None:
        router.register(create_static_files_router(SWAGGER_ASSETS, [str(swagger_ui_path)], name="swagger-ui-assets"))


def config() -> OpenAPIConfig:
    """The document's configuration (a new one per application: Litestar fills it in)."""
    return OpenAPIConfig(
        title="Invoice summaries",
        version="1.0.0",
        description="Exact invoice totals per currency and customer, from invoice lifecycle events.",
        path=SCHEMA_PATH,
        render_plugins=[OfflineSwagger()],
        components=Components(
            security_schemes={
                "bearer": SecurityScheme(type="http", scheme="bearer"),
                "basic": SecurityScheme(type="http", scheme="basic"),
                "apiKey": SecurityScheme(type="apiKey", name="x-api-key", security_scheme_in="header"),
            }
        ),
        security=[{"bearer": []}, {"basic": []}, {"apiKey": []}],
    )


def echoed_ids_by_path(routes: Iterable[BaseRoute]) -> dict[str, tuple[EchoedId, ...]]:
    """The ids each path's routes echo beside X-Request-ID (``opt[ECHOED_IDS]``), by the document's path."""
    echoed: dict[str, tuple[EchoedId, ...]] = {}
    for route in routes:
        if isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                ids: tuple[EchoedId, ...] = handler.opt.get(ECHOED_IDS, ())
                if ids:
                    echoed[route.path_format] = ids
    return echoed


def _header(description: str, required: bool) -> dict[str, Any]:
    return {"description": description, "required": required, "schema": {"type": "string"}}


def _declare_echoed_headers(document: dict[str, Any], echoed: Mapping[str, Sequence[EchoedId]]) -> None:
    """Every answer carries X-Request-ID, and traceparent when the request sent a
    valid one (services/api/edge.py); a path's route may echo more ids."""
    headers = document.setdefault("components", {}).setdefault("headers", {})
    headers[REQUEST_ID.name] = {
        **_header(REQUEST_ID.description, True),
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH},
    }
    headers[TRACEPARENT] = _header(TRACEPARENT_DESCRIPTION, False)
    for ids in echoed.values():
        for echoed_id in ids:
            headers[echoed_id.name] = _header(echoed_id.description, True)
    for path, item in document.get("paths", {}).items():
        names = [REQUEST_ID.name, TRACEPARENT, *(echoed_id.name for echoed_id in echoed.get(path, ()))]
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            for response in operation.get("responses", {}).values():
                declared = response.setdefault("headers", {})
                for name in names:
                    declared[name] = {"$ref": f"#/components/headers/{name}"}


def finish_document(
    document: dict[str, Any], settings: Settings, echoed: Mapping[str, Sequence[EchoedId]] | None = None
) -> None:
    """Make the generated document say what the API does: parameters are
    plain values (never null) with the formats and limits their ``Param``
    declares; every answer's id headers (``echoed``: the ids a path echoes
    beside X-Request-ID, ``echoed_ids_by_path``); the public operations need
    no key; /metrics answers Prometheus text."""
    public = [re.compile(pattern) for pattern in PUBLIC_PATHS]
    schemas = document.get("components", {}).get("schemas", {})
    for name, extra in SCHEMA_EXTENSIONS.items():
        if name in schemas:
            schemas[name].update(extra)
    for path, item in document.get("paths", {}).items():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                where = parameter.get("in")
                if where not in ("query", "path") and not (where == "header" and params.is_declared(parameter["name"])):
                    continue
                schema = params.limits(parameter["name"]).document_schema(settings)
                generated = parameter.get("schema", {})
                description = generated.get("description")
                if description is not None:
                    schema["description"] = description
                if "enum" in generated:
                    # A route's own values of a name lists share (sortBy).
                    schema["enum"] = generated["enum"]
                parameter["schema"] = schema
            for response in operation.get("responses", {}).values():
                content = response.get("content", {})
                if PROBLEM_JSON in content:
                    # The same problem to a client that accepts application/json only (problems.py).
                    content.setdefault(JSON, content[PROBLEM_JSON])
            if any(p.match(path) for p in public):
                operation["security"] = []
            if path == "/metrics":
                operation["responses"] = {
                    "200": {
                        "description": "Prometheus text exposition format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                }
    _declare_echoed_headers(document, echoed or {})
