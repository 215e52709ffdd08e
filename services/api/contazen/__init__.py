"""Contazen's invoice totals of a period (the seed page's names and numbers;
errors with Contazen's ``success: false``)."""

from litestar import Router

from services.api.contazen.endpoints import invoice_totals
from services.api.contazen.schemas import contazen_problem
from services.api.problems import PROBLEM_STYLE

router = Router(path="/", route_handlers=[invoice_totals], tags=["Contazen"], opt={PROBLEM_STYLE: contazen_problem})
