"""Partner Center's invoice summaries (the seed page's names and formats)."""

from litestar import Router

from services.api.partner_center.endpoints import invoice_summaries

router = Router(path="/", route_handlers=[invoice_summaries], tags=["Partner Center"])
