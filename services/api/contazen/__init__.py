"""Contazen's invoice totals of a period (the seed page's names and numbers)."""

from litestar import Router

from services.api.contazen.endpoints import invoice_totals

router = Router(path="/", route_handlers=[invoice_totals], tags=["Contazen"])
