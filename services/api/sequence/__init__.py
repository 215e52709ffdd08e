"""Sequence's invoice summary and list (the seed pages' names and numbers)."""

from litestar import Router

from services.api.sequence.endpoints import invoices_list_summary, invoices_summary

router = Router(path="/", route_handlers=[invoices_summary, invoices_list_summary], tags=["Sequence"])
