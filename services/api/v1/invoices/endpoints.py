"""The product's invoices: GET /v1/invoices and /v1/invoices/{invoiceId}."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.di import NamedDependency, Provide

from services.api import money
from services.api.filters import InvoiceFilter, invoice_filter
from services.api.invoice_rows import StoredInvoice
from services.api.paging import Page, Pagination, invoice_page, page_parameters
from services.api.params import NON_EMPTY, MinPosition, Param
from services.api.problems import ApiProblem, problem_responses
from services.api.reading import json_response, reading
from services.api.v1.invoices import queries
from services.api.v1.invoices.schemas import V1BillingPeriod, V1Invoice, V1InvoiceList

INVOICE = Param("invoiceId", "Invoice id", NON_EMPTY)
InvoiceId = Annotated[str, INVOICE.path()]


def invoice(i: StoredInvoice) -> V1Invoice:
    code = i.currency

    def amount(minor: int) -> str:
        return money.text(minor, code)

    start, end = i.billing_period_start, i.billing_period_end
    return V1Invoice(
        id=i.invoice_id,
        invoiceNumber=i.invoice_number,
        customerId=i.customer_id,
        customerName=i.customer_name,
        currency=code,
        issueDate=i.issue_date,
        dueDate=i.due_date,
        accountingDate=i.accounting_date,
        billingPeriod=None if start is None or end is None else V1BillingPeriod(start=start, endInclusive=end),
        billingScheduleId=i.billing_schedule_id,
        seriesId=i.series_id,
        documentType=i.document_type,
        status=i.status,
        paymentStatus=i.payment_status,
        netTotal=amount(i.net),
        taxTotal=amount(i.tax),
        grossTotal=amount(i.gross),
        usageGross=amount(i.usage_gross),
        fixedGross=amount(i.fixed_gross),
        recurringGross=amount(i.recurring_gross),
        oneTimeGross=amount(i.one_time_gross),
        quantityIsZero=i.quantity_is_zero,
        amountPaid=amount(i.amount_paid),
        balance=amount(i.balance),
        overpaid=amount(i.overpaid),
        balanceUsage=amount(i.balance_usage),
        balanceFixed=amount(i.balance_fixed),
        balanceRecurring=amount(i.balance_recurring),
        balanceOneTime=amount(i.balance_one_time),
        receivable=i.status == "SENT" and i.balance > 0,
        paymentCount=i.payment_count,
        paymentIds=list(i.payment_ids),
        lastPaidAt=i.last_paid_at,
        lastPaymentAmount=None if i.last_payment_amount is None else amount(i.last_payment_amount),
        sentAt=i.sent_at,
        sentDate=i.sent_date,
        voidedAt=i.voided_at,
        voidReason=i.void_reason,
        eventIds=list(i.event_ids),
        createdAt=i.created_at,
        updatedAt=i.updated_at,
    )


@get(
    "/v1/invoices",
    summary="List invoices",
    operation_id="listInvoices",
    responses=problem_responses(),
    dependencies={"invoice_filter": Provide(invoice_filter), "page": Provide(page_parameters)},
)
async def list_invoices(
    request: Request[Any, Any, Any],
    invoice_filter: NamedDependency[InvoiceFilter],
    page: NamedDependency[Page],
    min_position: MinPosition = None,
) -> Response[V1InvoiceList]:
    """The tenant's invoices with every stored field, filtered and paginated as
    /invoices/list-summary (same parameters, same cursors)."""
    async with reading(request, min_position) as read:
        found = await invoice_page(read.conn, read.tenant_id, invoice_filter, page)
        body = V1InvoiceList(items=[invoice(i) for i in found.invoices], pagination=Pagination.of(found))
        return json_response(body, read)


@get(
    "/v1/invoices/{invoiceId:str}",
    summary="Get one invoice",
    operation_id="getInvoice",
    responses=problem_responses(404),
)
async def get_invoice(
    request: Request[Any, Any, Any], invoice_id: InvoiceId, min_position: MinPosition = None
) -> Response[V1Invoice]:
    """One invoice with every stored field; 404 when the tenant has no such invoice."""
    async with reading(request, min_position) as read:
        found = await queries.one_invoice(read.conn, read.tenant_id, invoice_id)
        if found is None:
            raise ApiProblem(404, "Not found", f"no invoice {invoice_id!r}")
        return json_response(invoice(found), read)
