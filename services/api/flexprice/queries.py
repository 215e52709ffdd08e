"""Flexprice's read: one customer's SENT invoices per currency, in one round trip."""

from __future__ import annotations

import datetime as dt

import msgspec

from projections.figures import NO_FIGURES
from services.api import point_in_time
from services.api.point_in_time import Moment
from services.api.rows import Connection, typed

# $1 tenant, $2 overdue cut-off, $3 customer: the currency of the customer's
# latest invoice (issue date, then creation time, then invoice id) on every
# row, then per currency with a SENT invoice the SENT totals, the receivable
# and the overdue receivable (the receivable rows due before $2). No row: the
# tenant has no invoice for the customer; one row without a currency: none of
# them is SENT (drafts and voided invoices are no currency's summary).
# Kept this plain on purpose: planning the /v1 customer overdue query took
# four times as long as running it.
CUSTOMER_INVOICE_SUMMARY = """
SELECT d.currency AS default_currency, t.currency, t.sent_count, t.sent_gross,
       t.receivable_count, t.receivable_balance, t.receivable_usage, t.receivable_fixed,
       coalesce(o.overdue_count, 0) AS overdue_count, coalesce(o.overdue_balance, 0) AS overdue_balance
FROM (
    SELECT currency FROM billing_read.invoices
    WHERE tenant_id = $1 AND customer_id = $3
    ORDER BY issue_date DESC, created_at DESC NULLS LAST, invoice_id DESC
    LIMIT 1
) d
LEFT JOIN (
    SELECT currency, sum(sent_count)::bigint AS sent_count, sum(sent_gross) AS sent_gross,
           sum(receivable_count)::bigint AS receivable_count, sum(receivable_balance) AS receivable_balance,
           sum(receivable_usage) AS receivable_usage, sum(receivable_fixed) AS receivable_fixed
    FROM billing_read.customer_totals
    WHERE tenant_id = $1 AND customer_id = $3
    GROUP BY currency
    HAVING sum(sent_count) > 0
) t ON true
LEFT JOIN (
    SELECT currency, sum(receivable_count)::bigint AS overdue_count, sum(receivable_balance) AS overdue_balance
    FROM billing_read.customer_receivable
    WHERE tenant_id = $1 AND customer_id = $3 AND due_date < $2::date
    GROUP BY currency
) o ON o.currency = t.currency
ORDER BY t.currency
"""


class CustomerCurrency(msgspec.Struct, frozen=True):
    """A customer's SENT invoices of one currency (amounts in minor units)."""

    currency: str
    sent_count: int
    sent_gross: int
    receivable_count: int
    receivable_balance: int
    receivable_usage: int
    receivable_fixed: int
    overdue_count: int
    overdue_balance: int


class CustomerInvoices(msgspec.Struct, frozen=True):
    default_currency: str
    currencies: list[CustomerCurrency]


# $1 tenant, $2 customer, $3 asOf, $4 knownAt: the currency of the latest of
# the invoices that existed then.
DEFAULT_CURRENCY_AT = """
SELECT i.currency FROM billing_read.invoices i
JOIN (
    SELECT invoice_id FROM billing_read.invoice_changes
    WHERE tenant_id = $1 AND customer_id = $2 AND ($3::date IS NULL OR day <= $3::date)
      AND ($4::timestamptz IS NULL OR recorded_at <= $4::timestamptz)
    GROUP BY invoice_id HAVING sum(invoice_count) > 0
) c USING (invoice_id)
WHERE i.tenant_id = $1
ORDER BY i.issue_date DESC, i.created_at DESC NULLS LAST, i.invoice_id DESC
LIMIT 1
"""


async def customer_invoices_at(
    conn: Connection, tenant_id: str, customer_id: str, at: Moment
) -> CustomerInvoices | None:
    """The customer's figures as of ``at`` (docs/figures.md#as-of); None when
    the tenant had no invoice for the customer then."""
    if at.current:
        return await customer_invoices(conn, tenant_id, customer_id, at.cutoff)
    default_currency = await conn.fetchval(DEFAULT_CURRENCY_AT, tenant_id, customer_id, at.as_of, at.known_at)
    if default_currency is None:
        return None
    past_due = await point_in_time.customer_past_due(conn, tenant_id, customer_id, at)
    currencies = []
    for found in await point_in_time.customer_figures(conn, tenant_id, customer_id, at):
        f = found.figures
        if not f.sent_count:
            continue
        overdue = past_due[found.currency].overdue() if found.currency in past_due else NO_FIGURES
        currencies.append(
            CustomerCurrency(
                currency=found.currency,
                sent_count=f.sent_count,
                sent_gross=f.sent_gross,
                receivable_count=f.receivable_count,
                receivable_balance=f.receivable_balance,
                receivable_usage=f.receivable_usage,
                receivable_fixed=f.receivable_fixed,
                overdue_count=overdue.receivable_count,
                overdue_balance=overdue.receivable_balance,
            )
        )
    return CustomerInvoices(default_currency=default_currency, currencies=currencies)


async def customer_invoices(
    conn: Connection, tenant_id: str, customer_id: str, as_of: dt.date
) -> CustomerInvoices | None:
    """The customer's figures per currency, overdue as of ``as_of``; None when
    the tenant has no invoice for the customer."""
    records = await conn.fetch(CUSTOMER_INVOICE_SUMMARY, tenant_id, as_of, customer_id)
    if not records:
        return None
    return CustomerInvoices(
        default_currency=records[0]["default_currency"],
        currencies=[typed(CustomerCurrency, r) for r in records if r["currency"] is not None],
    )
