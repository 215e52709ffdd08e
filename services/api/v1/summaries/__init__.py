"""The product's summaries per currency, of the tenant or one customer."""

from litestar import Router

from services.api.v1.summaries.endpoints import customer_summary, summary

router = Router(path="/", route_handlers=[summary, customer_summary], tags=["Invoice summaries"])
