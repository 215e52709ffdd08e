"""Flexprice's customer invoice summary (the seed page's names, decimal strings;
errors with the members of Flexprice's ErrorResponse)."""

from litestar import Router

from services.api.flexprice.endpoints import customer_invoice_summary
from services.api.flexprice.schemas import flexprice_problem
from services.api.problems import PROBLEM_STYLE

router = Router(
    path="/", route_handlers=[customer_invoice_summary], tags=["Flexprice"], opt={PROBLEM_STYLE: flexprice_problem}
)
