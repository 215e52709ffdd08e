"""The OpenAPI document at /schema: its configuration, and what makes it say
what the API does once Litestar has generated it."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, OpenAPIType, Schema, SecurityScheme
from litestar.plugins import OpenAPISchemaPlugin
from litestar.typing import FieldDefinition

from services.api import params
from services.api.auth import PUBLIC_PATHS
from services.settings import Settings


class DecimalAsNumber(OpenAPISchemaPlugin):
    """Responses render Decimals as exact JSON numbers (services/api/reading.py):
    document them as numbers, not as Litestar's default strings."""

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return field_definition.annotation is Decimal

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Schema:
        return Schema(type=OpenAPIType.NUMBER)


def config() -> OpenAPIConfig:
    """The document's configuration (a new one per application: Litestar fills it in)."""
    return OpenAPIConfig(
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
    )


def finish_document(document: dict[str, Any], settings: Settings) -> None:
    """Make the generated document say what the API does: parameters are
    plain values (never null) with the formats and limits their ``Param``
    declares; the public operations need no key; /metrics answers Prometheus text."""
    public = [re.compile(pattern) for pattern in PUBLIC_PATHS]
    for path, item in document.get("paths", {}).items():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                if parameter.get("in") not in ("query", "path"):
                    continue
                schema = params.limits(parameter["name"]).document_schema(settings)
                description = parameter.get("schema", {}).get("description")
                if description is not None:
                    schema["description"] = description
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
