"""Flexprice's answer, with its published field names; amounts are decimal
strings in major units. Its errors carry the members of its ``ErrorResponse``."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request
from msgspec import Meta

from services.api.money import Money
from services.api.problems import Problem


class CustomerInvoiceSummary(msgspec.Struct):
    currency: str
    customer_id: str
    overdue_invoice_count: int
    total_invoice_count: int
    total_overdue_amount: Money
    total_revenue_amount: Money
    total_unpaid_amount: Money
    unpaid_fixed_charges: Money
    unpaid_invoice_count: int
    unpaid_usage_charges: Money


class CustomerMultiCurrencyInvoiceSummary(msgspec.Struct):
    customer_id: str
    default_currency: str
    summaries: list[CustomerInvoiceSummary]


# Flexprice's errors.ErrorResponse codes (its published enum) for our statuses.
ERROR_CODES = {
    400: "validation_error",
    401: "permission_denied",
    404: "not_found",
    405: "invalid_operation",
    413: "validation_error",
    414: "validation_error",
    429: "too_many_requests",
    431: "validation_error",
    500: "internal_error",
    503: "service_unavailable",
}


class FlexpriceErrorDetail(msgspec.Struct):
    message: str
    # Flexprice states its server-side cause here; ours is the same message
    # (nothing internal ever leaves the API).
    internal_error: str


class FlexpriceProblem(Problem, kw_only=True):
    """The RFC 9457 problem with the members of Flexprice's ``errors.ErrorResponse``
    (its OpenAPI document, the Python SDK) and of the error envelope its
    TypeScript SDK reads (``success``, ``error.message``)."""

    code: Annotated[
        str,
        Meta(description="Flexprice error code: " + ", ".join(sorted(set(ERROR_CODES.values())))),
    ]
    message: Annotated[str, Meta(description="What went wrong (the problem's detail)")]
    http_status_code: Annotated[int, Meta(description="The HTTP status (the problem's status)")]
    details: Annotated[
        dict[str, dict[str, str]],
        Meta(description='The offending parameter, when there is one: {"parameter": {"name": ...}}'),
    ]
    success: Annotated[bool, Meta(description="Always false")]
    error: Annotated[FlexpriceErrorDetail, Meta(description="The message again, where the TypeScript SDK reads it")]


def flexprice_problem(request: Request[Any, Any, Any], problem: Problem) -> tuple[Problem, dict[str, str]]:
    status = problem.status
    code = ERROR_CODES.get(status, "internal_error" if status >= 500 else "validation_error")
    details = {} if problem.parameter is None else {"parameter": {"name": problem.parameter}}
    fields = msgspec.structs.asdict(problem)
    shaped = FlexpriceProblem(
        **fields,
        code=code,
        message=problem.detail,
        http_status_code=status,
        details=details,
        success=False,
        error=FlexpriceErrorDetail(message=problem.detail, internal_error=problem.detail),
    )
    return shaped, {}
