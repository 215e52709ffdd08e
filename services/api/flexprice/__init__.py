"""Flexprice's customer invoice summary (the seed page's names, decimal strings)."""

from litestar import Router

from services.api.flexprice.endpoints import customer_invoice_summary

router = Router(path="/", route_handlers=[customer_invoice_summary], tags=["Flexprice"])
