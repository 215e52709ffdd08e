"""The invoice filter shared by the summary and list endpoints, and keyset
pagination over the filtered invoices.

``invoice_filter`` is a Litestar dependency: routes that take an
``invoice_filter: InvoiceFilter`` argument get every filter parameter,
validated and documented once. ``Sql`` turns a filter into SQL predicates
with numbered parameters (the fragments are in ``queries``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated, Any

import asyncpg
import msgspec
from litestar.params import QueryParameter

from contracts import CURRENCIES, MAX_MINOR
from services.api import params, queries
from services.api.params import Cursor
from services.api.problems import BadParameter

# Currency codes by their number of decimals: a net total is compared in the
# minor units of each group.
_CODES_BY_EXPONENT: dict[int, list[str]] = {}
for _code, _currency in sorted(CURRENCIES.items()):
    _CODES_BY_EXPONENT.setdefault(_currency.exponent, []).append(_code)


class InvoiceFilter(msgspec.Struct, frozen=True, kw_only=True):
    statuses: list[str] | None = None
    not_statuses: list[str] | None = None
    payment_statuses: list[str] | None = None
    not_payment_statuses: list[str] | None = None
    customer_id: str | None = None
    not_customer_id: str | None = None
    billing_schedule_id: str | None = None
    not_billing_schedule_id: str | None = None
    due_before: dt.date | None = None
    due_after: dt.date | None = None
    sent_before: dt.date | None = None
    sent_after: dt.date | None = None
    issued_before: dt.date | None = None
    issued_after: dt.date | None = None
    exclude_zero_quantity: bool = False
    currencies: list[str] | None = None
    not_currencies: list[str] | None = None
    search: str | None = None
    not_search: str | None = None
    invoice_number: str | None = None
    not_invoice_number: str | None = None
    net_total: Decimal | None = None
    not_net_total: Decimal | None = None

    @property
    def is_empty(self) -> bool:
        return self == _NO_FILTER


_NO_FILTER = InvoiceFilter()


def _q(name: str, description: str, **kwargs: Any) -> QueryParameter:
    return QueryParameter(name=name, description=description, **kwargs)


_DATE = {"format": "date"}
_STATUS_HELP = "Invoice status, comma list: DRAFT, SENT, VOIDED (IN_PROGRESS, FINAL accepted, match nothing)."
_PAYMENT_HELP = "Payment status, comma list: UNPAID, PARTIALLY_PAID, PAID (UNCOLLECTIBLE accepted, matches nothing)."


async def invoice_filter(
    invoice_status: Annotated[str | None, _q("invoiceStatus", _STATUS_HELP)] = None,
    invoice_payment_status: Annotated[str | None, _q("invoicePaymentStatus", _PAYMENT_HELP)] = None,
    customer_id: Annotated[str | None, _q("customerId", "Only this customer's invoices.")] = None,
    billing_schedule_id: Annotated[
        str | None, _q("billingScheduleId", "Only invoices of this billing schedule.")
    ] = None,
    due_before: Annotated[str | None, _q("dueBefore", "Due date < this date (YYYY-MM-DD).", **_DATE)] = None,
    due_after: Annotated[str | None, _q("dueAfter", "Due date >= this date (YYYY-MM-DD).", **_DATE)] = None,
    sent_before: Annotated[
        str | None,
        _q("sentBefore", "Sent (UTC date of sent_at) < this date; never-sent invoices do not match.", **_DATE),
    ] = None,
    sent_after: Annotated[
        str | None,
        _q("sentAfter", "Sent (UTC date of sent_at) >= this date; never-sent invoices do not match.", **_DATE),
    ] = None,
    invoice_before: Annotated[str | None, _q("invoiceBefore", "Invoice (issue) date < this date.", **_DATE)] = None,
    invoice_after: Annotated[str | None, _q("invoiceAfter", "Invoice (issue) date >= this date.", **_DATE)] = None,
    exclude_zero_quantity: Annotated[
        str | None,
        _q(
            "excludeZeroQuantity",
            "true: leave out invoices whose line quantities sum to zero.",
            schema_extra={"type": "boolean"},
        ),
    ] = None,
    invoice_currency: Annotated[str | None, _q("invoiceCurrency", "Currency codes, comma list (e.g. EUR,GBP).")] = None,
    search: Annotated[str | None, _q("search", "Case-insensitive substring of the invoice number.")] = None,
    invoice_number: Annotated[str | None, _q("invoiceNumber", "Exactly this invoice number.")] = None,
    net_total: Annotated[
        str | None,
        _q(
            "netTotal", "Net total equal to this amount in major units (e.g. 1250.50).", schema_extra={"type": "number"}
        ),
    ] = None,
    exclude_invoice_status: Annotated[
        str | None, _q("excludeInvoiceStatus", "Leave out these statuses (comma list).")
    ] = None,
    exclude_invoice_payment_status: Annotated[
        str | None, _q("excludeInvoicePaymentStatus", "Leave out these payment statuses (comma list).")
    ] = None,
    exclude_customer_id: Annotated[str | None, _q("excludeCustomerId", "Leave out this customer's invoices.")] = None,
    exclude_billing_schedule_id: Annotated[
        str | None,
        _q("excludeBillingScheduleId", "Leave out this billing schedule's invoices (invoices without one stay)."),
    ] = None,
    exclude_invoice_currency: Annotated[
        str | None, _q("excludeInvoiceCurrency", "Leave out these currencies (comma list).")
    ] = None,
    exclude_invoice_number: Annotated[
        str | None, _q("excludeInvoiceNumber", "Leave out the invoice with this number.")
    ] = None,
    exclude_net_total: Annotated[
        str | None,
        _q(
            "excludeNetTotal", "Leave out invoices whose net total equals this amount.", schema_extra={"type": "number"}
        ),
    ] = None,
    exclude_search: Annotated[
        str | None,
        _q("excludeSearch", "Leave out invoices whose number contains this text (case-insensitive)."),
    ] = None,
) -> InvoiceFilter:
    """The filter parameters of Sequence's invoice list, validated."""
    statuses, payment_statuses = params.STATUSES, params.PAYMENT_STATUSES
    never, never_paid = params.NEVER_STATUSES, params.NEVER_PAYMENT_STATUSES
    return InvoiceFilter(
        statuses=params.enum_list("invoiceStatus", invoice_status, statuses, never),
        not_statuses=params.enum_list("excludeInvoiceStatus", exclude_invoice_status, statuses, never),
        payment_statuses=params.enum_list("invoicePaymentStatus", invoice_payment_status, payment_statuses, never_paid),
        not_payment_statuses=params.enum_list(
            "excludeInvoicePaymentStatus", exclude_invoice_payment_status, payment_statuses, never_paid
        ),
        customer_id=params.text("customerId", customer_id),
        not_customer_id=params.text("excludeCustomerId", exclude_customer_id),
        billing_schedule_id=params.text("billingScheduleId", billing_schedule_id),
        not_billing_schedule_id=params.text("excludeBillingScheduleId", exclude_billing_schedule_id),
        due_before=params.date("dueBefore", due_before),
        due_after=params.date("dueAfter", due_after),
        sent_before=params.date("sentBefore", sent_before),
        sent_after=params.date("sentAfter", sent_after),
        issued_before=params.date("invoiceBefore", invoice_before),
        issued_after=params.date("invoiceAfter", invoice_after),
        exclude_zero_quantity=bool(params.boolean("excludeZeroQuantity", exclude_zero_quantity)),
        currencies=params.currency_list("invoiceCurrency", invoice_currency),
        not_currencies=params.currency_list("excludeInvoiceCurrency", exclude_invoice_currency),
        search=params.text("search", search),
        not_search=params.text("excludeSearch", exclude_search),
        invoice_number=params.text("invoiceNumber", invoice_number),
        not_invoice_number=params.text("excludeInvoiceNumber", exclude_invoice_number),
        net_total=params.decimal_number("netTotal", net_total),
        not_net_total=params.decimal_number("excludeNetTotal", exclude_net_total),
    )


def like_pattern(text: str) -> str:
    """An ILIKE pattern matching ``text`` anywhere, with ``\\``, ``%`` and ``_`` literal."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def net_minor_by_exponent(amount: Decimal) -> list[tuple[list[str], int]]:
    """(currencies, minor units) for each currency exponent in which ``amount``
    is a whole number of minor units; empty when it is one in none."""
    matches: list[tuple[list[str], int]] = []
    if abs(amount) > MAX_MINOR:  # beyond any invoice total, in every currency
        return matches
    for exponent, codes in _CODES_BY_EXPONENT.items():
        minor = amount.scaleb(exponent)
        if minor == minor.to_integral_value():
            matches.append((codes, int(minor)))
    return matches


class Sql:
    """Predicates with numbered parameters; ``$1`` is the tenant."""

    def __init__(self, tenant_id: str, *more: Any) -> None:
        self.args: list[Any] = [tenant_id, *more]
        self.predicates: list[str] = []

    def param(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def add(self, fragment: str, *values: Any) -> None:
        self.predicates.append(fragment.format(*(self.param(v) for v in values)))

    @property
    def where(self) -> str:
        return "".join(f" AND {p}" for p in self.predicates)

    def net_total(self, amount: Decimal, negate: bool) -> None:
        parts = [
            queries.F_NET_IN.format(self.param(codes), self.param(minor))
            for codes, minor in net_minor_by_exponent(amount)
        ]
        either = " OR ".join(parts) if parts else queries.F_NOTHING
        self.predicates.append(f"NOT ({either})" if negate else f"({either})")

    def invoice_filter(self, f: InvoiceFilter) -> Sql:
        q = queries
        optional: Sequence[tuple[str, Any]] = (
            (q.F_STATUS, f.statuses),
            (q.F_NOT_STATUS, f.not_statuses),
            (q.F_PAYMENT_STATUS, f.payment_statuses),
            (q.F_NOT_PAYMENT_STATUS, f.not_payment_statuses),
            (q.F_CUSTOMER, f.customer_id),
            (q.F_NOT_CUSTOMER, f.not_customer_id),
            (q.F_SCHEDULE, f.billing_schedule_id),
            (q.F_NOT_SCHEDULE, f.not_billing_schedule_id),
            (q.F_DUE_BEFORE, f.due_before),
            (q.F_DUE_AFTER, f.due_after),
            (q.F_SENT_BEFORE, f.sent_before),
            (q.F_SENT_AFTER, f.sent_after),
            (q.F_ISSUED_BEFORE, f.issued_before),
            (q.F_ISSUED_AFTER, f.issued_after),
            (q.F_CURRENCY, f.currencies),
            (q.F_NOT_CURRENCY, f.not_currencies),
            (q.F_SEARCH, None if f.search is None else like_pattern(f.search)),
            (q.F_NOT_SEARCH, None if f.not_search is None else like_pattern(f.not_search)),
            (q.F_NUMBER, f.invoice_number),
            (q.F_NOT_NUMBER, f.not_invoice_number),
        )
        for fragment, value in optional:
            if value is not None:
                self.add(fragment, value)
        if f.exclude_zero_quantity:
            self.add(q.F_NONZERO_QUANTITY)
        if f.net_total is not None:
            self.net_total(f.net_total, negate=False)
        if f.not_net_total is not None:
            self.net_total(f.not_net_total, negate=True)
        return self


# Pagination -------------------------------------------------------------------


class Page(msgspec.Struct, frozen=True):
    sort_by: str
    sort_order: str
    limit: int
    after: Cursor | None = None
    before: Cursor | None = None


async def page_parameters(
    before: Annotated[str | None, _q("before", "Cursor: the page before the one this cursor came from.")] = None,
    after: Annotated[str | None, _q("after", "Cursor: the page after the one this cursor came from.")] = None,
    limit: Annotated[
        str | None,
        _q(
            "limit",
            f"Items per page, 1 to {params.MAX_LIMIT} (default {params.DEFAULT_LIMIT}).",
            schema_extra={"type": "integer", "minimum": 1, "maximum": params.MAX_LIMIT},
        ),
    ] = None,
    sort_by: Annotated[
        str | None,
        _q(
            "sortBy",
            f"Sort key: {', '.join(queries.SORTS)} (default {queries.DEFAULT_SORT}); ties by invoice number, then id.",
            schema_extra={"enum": list(queries.SORTS)},
        ),
    ] = None,
    sort_order: Annotated[
        str | None,
        _q("sortOrder", "ASC or DESC (default DESC).", schema_extra={"enum": list(params.SORT_ORDERS)}),
    ] = None,
) -> Page:
    """Cursor pagination parameters, validated (a cursor must match the sort)."""
    by = params.choice("sortBy", sort_by, queries.SORTS, queries.DEFAULT_SORT)
    order = params.choice("sortOrder", sort_order, params.SORT_ORDERS, "DESC")
    size = params.limit(limit)
    if before and after:
        raise BadParameter("before", "give either before or after, not both")
    types = tuple(c.type for c in queries.SORTS[by])
    return Page(
        sort_by=by,
        sort_order=order,
        limit=size,
        after=params.decode_cursor("after", after, by, order, types) if after else None,
        before=params.decode_cursor("before", before, by, order, types) if before else None,
    )


class PageOfRows(msgspec.Struct):
    rows: list[asyncpg.Record]
    after: str | None
    before: str | None
    total: int


def _keyset(sql: Sql, page: Page, cursor: Cursor, forward: bool) -> str:
    """The bound ``(sort key) > / < (cursor key)`` in the direction of travel."""
    columns = queries.SORTS[page.sort_by]
    ascending = (page.sort_order == "ASC") == forward
    op = ">" if ascending else "<"
    if cursor.inclusive:
        op += "="
    left = ", ".join(c.expression.format(c.column) for c in columns)
    right = ", ".join(
        c.expression.format(f"{sql.param(v)}::{c.sql_type}") for c, v in zip(columns, cursor.key, strict=True)
    )
    return f" AND ({left}) {op} ({right})"


def _order(page: Page, forward: bool) -> str:
    ascending = (page.sort_order == "ASC") == forward
    direction = "ASC" if ascending else "DESC"
    return ", ".join(f"{c.expression.format(c.column)} {direction}" for c in queries.SORTS[page.sort_by])


def _cursor(page: Page, row: asyncpg.Record, inclusive: bool = False) -> str:
    key = tuple(row[c.column] for c in queries.SORTS[page.sort_by])
    return params.encode_cursor(Cursor(page.sort_by, page.sort_order, key, inclusive))


def _flip(cursor: Cursor) -> Cursor:
    """The complementary bound: items on the other side of the same item."""
    return Cursor(cursor.sort_by, cursor.sort_order, cursor.key, not cursor.inclusive)


async def invoice_page(conn: asyncpg.Connection, tenant_id: str, f: InvoiceFilter, page: Page) -> PageOfRows:
    """One page of the tenant's invoices matching ``f``, with the cursors of the
    neighbouring pages (None at either end) and the size of the whole set."""
    forward = page.before is None
    cursor = page.after or page.before
    sql = Sql(tenant_id).invoice_filter(f)
    where = sql.where
    keyset = "" if cursor is None else _keyset(sql, page, cursor, forward)
    query = queries.INVOICE_PAGE.format(
        where=where, keyset=keyset, order=_order(page, forward), limit=sql.param(page.limit + 1)
    )
    rows = await conn.fetch(query, *sql.args)
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    if not forward:
        rows.reverse()

    async def any_beyond(bound: Cursor, towards_end: bool) -> bool:
        probe = Sql(tenant_id).invoice_filter(f)
        bound_sql = _keyset(probe, page, bound, towards_end)
        exists: bool = await conn.fetchval(
            queries.INVOICE_EXISTS.format(where=probe.where, keyset=bound_sql), *probe.args
        )
        return exists

    # The side we came from: is anything there (the cursor's item may have
    # left the filter since)?
    if cursor is None:
        behind = False
    else:
        behind = await any_beyond(_flip(cursor), not forward)
    if forward:
        has_next, has_previous = more, behind
    else:
        has_next, has_previous = behind, more
    if rows:
        after = _cursor(page, rows[-1]) if has_next else None
        before = _cursor(page, rows[0]) if has_previous else None
    else:
        # An empty page (its items left the filter): point back at what is there.
        back = None if cursor is None else params.encode_cursor(_flip(cursor))
        after = back if has_next else None
        before = back if has_previous else None
    if f.is_empty:
        total = await conn.fetchval(queries.INVOICE_COUNT, tenant_id)
    else:
        counting = Sql(tenant_id).invoice_filter(f)
        total = await conn.fetchval(queries.FILTERED_COUNT.format(where=counting.where), *counting.args)
    return PageOfRows(rows=rows, after=after, before=before, total=total)
