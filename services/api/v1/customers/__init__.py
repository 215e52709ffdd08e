"""The collections view: GET /v1/customers."""

from litestar import Router

from services.api.v1.customers.endpoints import list_customers

router = Router(path="/", route_handlers=[list_customers], tags=["Customers"])
