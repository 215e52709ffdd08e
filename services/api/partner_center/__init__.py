"""Partner Center's invoice summaries (the seed page's names and formats;
errors with the members of Partner Center's REST errors; MS-RequestId and
MS-CorrelationId echoed)."""

from litestar import Router

from services.api.partner_center.endpoints import CORRELATION_IDS, invoice_summaries, partner_center_problem
from services.api.problems import PROBLEM_STYLE
from services.api.request_ids import ECHOED_IDS

router = Router(
    path="/",
    route_handlers=[invoice_summaries],
    tags=["Partner Center"],
    opt={PROBLEM_STYLE: partner_center_problem, ECHOED_IDS: CORRELATION_IDS},
)
