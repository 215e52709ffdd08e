"""The collections view: GET /v1/customers, "who owes us most". What each
figure means: docs/figures.md#customers."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import QueryParameter

from projections.standing import NO_OVERDUE
from services.api import money, params
from services.api.paging import (
    AFTER,
    BEFORE,
    LIMIT,
    SORT_BY,
    SORT_ORDER,
    SORT_ORDERS,
    Pagination,
    decode_cursor,
    page_size,
)
from services.api.params import CURRENCY_CODE, AsOf, MinPosition, Param
from services.api.problems import BadParameter, problem_responses
from services.api.reading import json_response, reading
from services.api.v1.customers.queries import SORTS, Query, Standing, StandingPage, sort_keys, standing_page
from services.api.v1.customers.schemas import (
    V1CustomerList,
    V1CustomerOverdue,
    V1CustomerReceivable,
    V1CustomerStanding,
)

CURRENCY = Param("currency", "Only this currency (e.g. EUR); needed to sort by an amount.", CURRENCY_CODE)
HAS_OVERDUE = Param(
    "hasOverdue", "true: only customers with an overdue invoice; false: only those without.", {"type": "boolean"}
)
# sortBy is declared once for every list (its limits, paging.SORT_BY); this
# list's values are its own.
SortBy = Annotated[
    str | None,
    QueryParameter(
        name=SORT_BY.name,
        description=f"Sort key: {', '.join(SORTS)} (default overdueBalance with currency, customerId without);"
        " ties by customer id. Amounts (overdueBalance, receivableBalance, revenue) need currency.",
        schema_extra={"enum": list(SORTS)},
    ),
]

EXAMPLE = {
    "asOf": "2026-11-30",
    "items": [
        {
            "customerId": "cus_042",
            "customerName": "Acme GmbH",
            "currency": "EUR",
            "invoiceCount": 14,
            "revenue": "18250.00",
            "receivable": {"count": 3, "balance": "4120.50"},
            "overdue": {"count": 2, "balance": "3120.50", "oldestDaysPastDue": 47},
            "lastPaymentDate": "2026-11-02",
        }
    ],
    "pagination": {"after": "WzEsWyJvdmVyZHVlQmFsYW5jZSIsIkRFU0MiLFsz", "before": None, "totalResultSize": 1250},
}


def item(row: Standing, day: dt.date) -> V1CustomerStanding:
    code = row.currency
    oldest = 0 if row.oldest_due_date == NO_OVERDUE else (day - row.oldest_due_date).days
    return V1CustomerStanding(
        customerId=row.customer_id,
        customerName=row.customer_name,
        currency=code,
        invoiceCount=row.invoice_count,
        revenue=money.text(row.revenue, code),
        receivable=V1CustomerReceivable(count=row.receivable_count, balance=money.text(row.receivable_balance, code)),
        overdue=V1CustomerOverdue(
            count=row.overdue_count, balance=money.text(row.overdue_balance, code), oldestDaysPastDue=oldest
        ),
        lastPaymentDate=None if row.last_paid_at is None else row.last_paid_at.astimezone(dt.UTC).date(),
    )


def _sort(sort_by: str | None, currency: str | None) -> str:
    chosen = params.choice(SORT_BY.name, sort_by, SORTS, "overdueBalance" if currency else "customerId")
    first = SORTS[chosen]
    if first is not None and first.amount and currency is None:
        raise BadParameter(
            SORT_BY.name,
            f"sortBy={chosen} ranks amounts, and amounts in different currencies are never compared:"
            " add currency (e.g. currency=EUR)",
        )
    return chosen


def customer_query(
    as_of: str | None,
    currency: str | None,
    has_overdue: str | None,
    sort_by: str | None,
    sort_order: str | None,
    before: str | None,
    after: str | None,
    limit: str | None,
) -> Query:
    """The request's parameters, checked (any tenant: the reader sets it)."""
    code = params.currency_code(CURRENCY.name, currency)
    by = _sort(sort_by, code)
    order = params.choice(SORT_ORDER.name, sort_order, SORT_ORDERS, "DESC")
    if before and after:
        raise BadParameter(BEFORE.name, "give either before or after, not both")
    types = tuple(k.type for k in sort_keys(by))
    day = params.as_of(as_of)
    return Query(
        tenant_id="",
        day=day,
        as_of=as_of is not None and as_of != "",
        currency=code,
        has_overdue=params.boolean(HAS_OVERDUE.name, has_overdue),
        sort_by=by,
        sort_order=order,
        limit=page_size(limit),
        after=decode_cursor(AFTER.name, after, by, order, types) if after else None,
        before=decode_cursor(BEFORE.name, before, by, order, types) if before else None,
    )


def customer_list(query: Query, found: StandingPage) -> V1CustomerList:
    pagination = Pagination(after=found.after, before=found.before, totalResultSize=found.total)
    return V1CustomerList(asOf=query.day, items=[item(row, query.day) for row in found.items], pagination=pagination)


@get(
    "/v1/customers",
    summary="Customers ranked by what they owe",
    operation_id="listCustomers",
    responses={
        200: ResponseSpec(
            V1CustomerList,
            description="One item per customer and currency",
            examples=[Example(summary="The top debtor in EUR", value=EXAMPLE)],
        ),
        **problem_responses(),
    },
)
async def list_customers(
    request: Request[Any, Any, Any],
    as_of: AsOf = None,
    currency: Annotated[str | None, CURRENCY.query()] = None,
    has_overdue: Annotated[str | None, HAS_OVERDUE.query()] = None,
    sort_by: SortBy = None,
    sort_order: Annotated[str | None, SORT_ORDER.query()] = None,
    before: Annotated[str | None, BEFORE.query()] = None,
    after: Annotated[str | None, AFTER.query()] = None,
    limit: Annotated[str | None, LIMIT.query()] = None,
    min_position: MinPosition = None,
) -> Response[V1CustomerList]:
    """The collections view: one item per customer and currency with its
    invoice count, revenue, receivable, overdue (count, balance, days past due
    of the oldest overdue invoice) and last payment date, ranked by ``sortBy``
    with keyset cursors. Without ``asOf``, the current figures with overdue
    as of today, read from rows the workers keep (one index scan per page);
    with ``asOf``, the figures at the end of that date by the events' own
    dates, summed from the timelines at request time (slower)."""
    query = customer_query(as_of, currency, has_overdue, sort_by, sort_order, before, after, limit)
    async with reading(request, min_position) as read:
        found = await standing_page(read.conn, msgspec.structs.replace(query, tenant_id=read.tenant_id))
        return json_response(customer_list(query, found), read)
