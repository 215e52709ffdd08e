"""The product's invoices: every stored field, listed or one by id."""

from litestar import Router

from services.api.v1.invoices.endpoints import get_invoice, list_invoices

router = Router(path="/", route_handlers=[list_invoices, get_invoice], tags=["Invoices"])
