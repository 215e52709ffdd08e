"""The product's own API under /v1: camelCase, money as decimal strings,
every figure per currency. Two families: summaries and invoices."""

from litestar import Router

from services.api.v1 import invoices, summaries

router = Router(path="/", route_handlers=[summaries.router, invoices.router])
