"""What the Partner Center and /v1 summaries both read: every summary figure
per currency (the summary tables' shards summed), and the dates of SENT
invoices (first and latest issue date, latest accounting date, latest
payment) per kind of lines. What each figure means: docs/figures.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import asyncpg
import msgspec

from projections.figures import TOTALS, Figures, is_count
from services.api.rows import Connection, typed


def sum_of(column: str) -> str:
    """The SQL summing a figure column over shards (counts stay bigint)."""
    return f"sum({column})::{'bigint' if is_count(column) else 'numeric'} AS {column}"


_SUMMARY = """
SELECT currency, {figures}
FROM billing_read.{table}
WHERE tenant_id = $1{customer}
GROUP BY currency
HAVING sum(invoice_count) > 0
ORDER BY currency
"""
# Every summary figure per currency.
CURRENCY_SUMMARY = _SUMMARY.format(figures=", ".join(sum_of(c) for c in TOTALS), table="currency_totals", customer="")
# The same for one customer ($2).
CUSTOMER_SUMMARY = _SUMMARY.format(
    figures=", ".join(sum_of(c) for c in TOTALS), table="customer_totals", customer=" AND customer_id = $2"
)

# First/latest issue date, latest accounting date and the latest payment of
# SENT invoices, per currency and per kind of lines (has recurring lines, has
# one-time lines). Each cell is one probe of a partial index (schema.sql), so
# the cost does not grow with the number of invoices.
_PROBE = """
    SELECT {columns} FROM billing_read.invoices i
    WHERE i.tenant_id = $1 AND i.currency = g.currency AND i.status = 'SENT'
      AND (i.recurring_gross > 0) = g.recurring AND (i.one_time_gross > 0) = g.one_time{extra}
    ORDER BY {order} LIMIT 1
"""
SENT_DATES_BY_KIND = f"""
WITH groups AS (
    SELECT t.currency, k.recurring, k.one_time
    FROM (SELECT currency FROM billing_read.currency_totals WHERE tenant_id = $1
          GROUP BY currency HAVING sum(sent_count) > 0) t
    CROSS JOIN (VALUES (false, false), (true, false), (false, true), (true, true))
        AS k(recurring, one_time)
)
SELECT g.currency, g.recurring, g.one_time,
       f.issue_date AS first_issue_date, l.issue_date AS latest_issue_date,
       a.accounting_date AS latest_accounting_date,
       p.last_paid_at, p.last_payment_amount, p.invoice_id AS last_paid_invoice_id
FROM groups g
LEFT JOIN LATERAL ({_PROBE.format(columns="i.issue_date", extra="", order="i.issue_date")}) f ON true
LEFT JOIN LATERAL ({_PROBE.format(columns="i.issue_date", extra="", order="i.issue_date DESC")}) l ON true
LEFT JOIN LATERAL ({_PROBE.format(columns="i.accounting_date", extra="", order="i.accounting_date DESC")}) a ON true
LEFT JOIN LATERAL ({
    _PROBE.format(
        columns="i.last_paid_at, i.last_payment_amount, i.invoice_id",
        extra=" AND i.last_paid_at IS NOT NULL",
        order="i.last_paid_at DESC, i.invoice_id DESC",
    )
}) p ON true
WHERE f.issue_date IS NOT NULL
ORDER BY g.currency, g.recurring, g.one_time
"""


CUSTOMER_EXISTS = "SELECT EXISTS (SELECT 1 FROM billing_read.invoices WHERE tenant_id = $1 AND customer_id = $2)"


async def customer_exists(conn: Connection, tenant_id: str, customer_id: str) -> bool:
    """Whether the tenant has an invoice for the customer (now)."""
    return bool(await conn.fetchval(CUSTOMER_EXISTS, tenant_id, customer_id))


class CurrencyFigures(msgspec.Struct, frozen=True):
    currency: str
    figures: Figures


def currency_figures(records: Iterable[asyncpg.Record]) -> list[CurrencyFigures]:
    """Records of ``currency`` and every figure column, typed."""
    return [CurrencyFigures(r["currency"], typed(Figures, r)) for r in records]


class SentDates(msgspec.Struct, frozen=True):
    """First/latest issue date, latest accounting date and latest payment of a
    set of SENT invoices (None for an empty set)."""

    first_issue_date: dt.date | None = None
    latest_issue_date: dt.date | None = None
    latest_accounting_date: dt.date | None = None
    last_paid_at: dt.datetime | None = None
    last_payment_amount: int | None = None
    last_paid_invoice_id: str | None = None

    @classmethod
    def combine(cls, parts: Iterable[SentDates]) -> SentDates:
        """The dates of the union of the sets ``parts`` describe (one per kind)."""
        found = list(parts)
        paid = [(p.last_paid_at, p.last_paid_invoice_id or "", p) for p in found if p.last_paid_at is not None]
        last = max(paid, key=lambda t: t[:2])[2] if paid else cls()
        return cls(
            first_issue_date=min((p.first_issue_date for p in found if p.first_issue_date), default=None),
            latest_issue_date=max((p.latest_issue_date for p in found if p.latest_issue_date), default=None),
            latest_accounting_date=max(
                (p.latest_accounting_date for p in found if p.latest_accounting_date), default=None
            ),
            last_paid_at=last.last_paid_at,
            last_payment_amount=last.last_payment_amount,
            last_paid_invoice_id=last.last_paid_invoice_id,
        )


class KindDates(msgspec.Struct, frozen=True):
    """The dates of the SENT invoices of one currency and kind of lines."""

    currency: str
    recurring: bool
    one_time: bool
    dates: SentDates


async def currency_summary(conn: Connection, tenant_id: str) -> list[CurrencyFigures]:
    """Every figure of each currency the tenant has invoices in."""
    return currency_figures(await conn.fetch(CURRENCY_SUMMARY, tenant_id))


async def sent_dates_by_kind(conn: Connection, tenant_id: str) -> list[KindDates]:
    """The dates of the tenant's SENT invoices per currency and kind of lines
    (only the kinds that have SENT invoices)."""
    return [
        KindDates(r["currency"], r["recurring"], r["one_time"], typed(SentDates, r))
        for r in await conn.fetch(SENT_DATES_BY_KIND, tenant_id)
    ]
