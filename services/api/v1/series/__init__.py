"""The product's period series: invoiced, collected, voided, closing
receivable and DSO per day, week, month, quarter or year."""

from litestar import Router

from services.api.v1.series.endpoints import summary_series

router = Router(path="/", route_handlers=[summary_series], tags=["Invoice summaries"])
