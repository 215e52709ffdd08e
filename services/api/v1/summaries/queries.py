"""The /v1 summaries' reads: every figure per currency, the overdue receivable
as of a date with its aging, and the dates of SENT invoices; for the tenant
or one customer, from the summary tables (the cost does not grow with the
number of invoices, except a customer's dates: an aggregate over the
customer's SENT invoices). What each figure means: docs/figures.md."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

import asyncpg
import msgspec

from projections.figures import NO_FIGURES, RECEIVABLE, Figures, is_count
from services.api import figures, point_in_time
from services.api.figures import CurrencyFigures, SentDates, sum_of
from services.api.point_in_time import Moment, PastDue
from services.api.rows import Connection, typed

# Overdue as of $2 (receivable with due_date < $2) and its aging by days past
# due (= $2 - due_date): 1-30, 31-60, 61-90, over 90. Only the due dates from
# 90 days before $2 on are read: overdue is the receivable total minus what is
# not due yet, and "over 90" is overdue minus the three recent buckets, so the
# work does not grow with the length of the history.
_RECENT = "coalesce(sum({column}) FILTER (WHERE {condition}), 0)::{kind}"
_BUCKETS = (
    ("not_due", "due_date >= $2::date"),
    ("aged_1_30", "due_date >= $2::date - 30 AND due_date < $2::date"),
    ("aged_31_60", "due_date >= $2::date - 60 AND due_date < $2::date - 30"),
    ("aged_61_90", "due_date >= $2::date - 90 AND due_date < $2::date - 60"),
)
# The aging buckets' column prefixes, youngest first.
AGED = ("aged_1_30", "aged_31_60", "aged_61_90", "aged_over_90")


def _recent_sums() -> str:
    return (
        ",\n           ".join(
            _RECENT.format(column=c, condition=condition, kind="bigint" if is_count(c) else "numeric")
            + f" AS {name}_{c}"
            for name, condition in _BUCKETS
            for c in ("receivable_count", "receivable_balance")
        )
        + ",\n           "
        + ",\n           ".join(
            _RECENT.format(column=c, condition="due_date >= $2::date", kind="numeric") + f" AS not_due_{c}"
            for c in RECEIVABLE
            if c not in ("receivable_count", "receivable_balance")
        )
    )


_OVERDUE = """
WITH totals AS (
    SELECT currency, {totals}
    FROM billing_read.{totals_table}
    WHERE tenant_id = $1{customer}
    GROUP BY currency
), recent AS (
    SELECT currency,
           {recent}
    FROM billing_read.{receivable_table}
    WHERE tenant_id = $1{customer} AND due_date >= $2::date - 90
    GROUP BY currency
), overdue AS (
    SELECT t.currency, {overdue},
           coalesce(r.aged_1_30_receivable_count, 0) AS aged_1_30_count,
           coalesce(r.aged_1_30_receivable_balance, 0) AS aged_1_30_balance,
           coalesce(r.aged_31_60_receivable_count, 0) AS aged_31_60_count,
           coalesce(r.aged_31_60_receivable_balance, 0) AS aged_31_60_balance,
           coalesce(r.aged_61_90_receivable_count, 0) AS aged_61_90_count,
           coalesce(r.aged_61_90_receivable_balance, 0) AS aged_61_90_balance
    FROM totals t LEFT JOIN recent r USING (currency)
)
SELECT *,
       receivable_count - aged_1_30_count - aged_31_60_count - aged_61_90_count AS aged_over_90_count,
       receivable_balance - aged_1_30_balance - aged_31_60_balance - aged_61_90_balance AS aged_over_90_balance
FROM overdue
WHERE receivable_count > 0
ORDER BY currency
"""


def _overdue(totals_table: str, receivable_table: str, customer: str) -> str:
    return _OVERDUE.format(
        totals=", ".join(sum_of(c) for c in RECEIVABLE),
        recent=_recent_sums(),
        overdue=", ".join(f"t.{c} - coalesce(r.not_due_{c}, 0) AS {c}" for c in RECEIVABLE),
        totals_table=totals_table,
        receivable_table=receivable_table,
        customer=customer,
    )


CURRENCY_OVERDUE = _overdue("currency_totals", "currency_receivable", "")
CUSTOMER_OVERDUE = _overdue("customer_totals", "customer_receivable", " AND customer_id = $3")

# The dates of one customer's ($2) SENT invoices per currency: an aggregate
# over them (found through the customer index).
CUSTOMER_SENT_DATES = """
SELECT d.currency, d.first_issue_date, d.latest_issue_date, d.latest_accounting_date,
       p.last_paid_at, p.last_payment_amount, p.invoice_id AS last_paid_invoice_id
FROM (
    SELECT currency, min(issue_date) AS first_issue_date, max(issue_date) AS latest_issue_date,
           max(accounting_date) AS latest_accounting_date
    FROM billing_read.invoices
    WHERE tenant_id = $1 AND customer_id = $2 AND status = 'SENT'
    GROUP BY currency
) d
LEFT JOIN LATERAL (
    SELECT i.last_paid_at, i.last_payment_amount, i.invoice_id FROM billing_read.invoices i
    WHERE i.tenant_id = $1 AND i.customer_id = $2 AND i.currency = d.currency
      AND i.status = 'SENT' AND i.last_paid_at IS NOT NULL
    ORDER BY i.last_paid_at DESC, i.invoice_id DESC LIMIT 1
) p ON true
ORDER BY d.currency
"""


class Aged(msgspec.Struct, frozen=True):
    """Overdue invoices in one aging bucket: how many, and their balances."""

    count: int
    balance: int


class Overdue(msgspec.Struct, frozen=True):
    """The invoices overdue as of the cut-off: their receivable figures (the
    other figures zero), and their aging (in the order of AGED)."""

    receivable: Figures
    aging: list[Aged]


NOT_OVERDUE = Overdue(NO_FIGURES, [Aged(0, 0) for _ in AGED])


class CurrencySummary(msgspec.Struct, frozen=True):
    currency: str
    totals: Figures
    overdue: Overdue
    dates: SentDates


def _overdue_by_currency(records: Iterable[asyncpg.Record]) -> dict[str, Overdue]:
    return {
        r["currency"]: Overdue(
            receivable=Figures(**{c: int(r[c]) for c in RECEIVABLE}),
            aging=[Aged(int(r[f"{prefix}_count"]), int(r[f"{prefix}_balance"])) for prefix in AGED],
        )
        for r in records
    }


def _combine(
    totals: list[CurrencyFigures], overdue: dict[str, Overdue], dates: dict[str, SentDates]
) -> list[CurrencySummary]:
    return [
        CurrencySummary(
            currency=t.currency,
            totals=t.figures,
            overdue=overdue.get(t.currency, NOT_OVERDUE),
            dates=dates.get(t.currency, SentDates()),
        )
        for t in totals
    ]


async def tenant_summary(conn: Connection, tenant_id: str, as_of: dt.date) -> list[CurrencySummary]:
    """Per currency the tenant has invoices in."""
    totals = await figures.currency_summary(conn, tenant_id)
    overdue = _overdue_by_currency(await conn.fetch(CURRENCY_OVERDUE, tenant_id, as_of))
    kinds: dict[str, list[SentDates]] = defaultdict(list)
    for kind in await figures.sent_dates_by_kind(conn, tenant_id):
        kinds[kind.currency].append(kind.dates)
    return _combine(totals, overdue, {code: SentDates.combine(parts) for code, parts in kinds.items()})


def _past_due_by_currency(found: dict[str, PastDue]) -> dict[str, Overdue]:
    return {
        currency: Overdue(
            receivable=past_due.overdue().receivable_part(),
            aging=[Aged(count, balance) for count, balance in past_due.aging()],
        )
        for currency, past_due in found.items()
    }


async def tenant_summary_at(conn: Connection, tenant_id: str, at: Moment) -> list[CurrencySummary]:
    """The tenant's figures as of ``at`` (docs/figures.md#as-of)."""
    if at.current:
        return await tenant_summary(conn, tenant_id, at.cutoff)
    totals = await point_in_time.tenant_figures(conn, tenant_id, at)
    overdue = _past_due_by_currency(await point_in_time.tenant_past_due(conn, tenant_id, at))
    dates = await point_in_time.tenant_dates(conn, tenant_id, at, [t.currency for t in totals])
    return _combine(totals, overdue, dates)


async def customer_summary_at(
    conn: Connection, tenant_id: str, customer_id: str, at: Moment
) -> list[CurrencySummary] | None:
    """One customer's figures as of ``at``; None when the tenant has no invoice
    for the customer (then or now)."""
    if at.current:
        return await customer_summary(conn, tenant_id, customer_id, at.cutoff)
    totals = await point_in_time.customer_figures(conn, tenant_id, customer_id, at)
    if not totals and not await figures.customer_exists(conn, tenant_id, customer_id):
        return None
    overdue = _past_due_by_currency(await point_in_time.customer_past_due(conn, tenant_id, customer_id, at))
    dates = await point_in_time.customer_dates(conn, tenant_id, customer_id, at, [t.currency for t in totals])
    return _combine(totals, overdue, dates)


async def customer_summary(
    conn: Connection, tenant_id: str, customer_id: str, as_of: dt.date
) -> list[CurrencySummary] | None:
    """Per currency the customer has invoices in; None when the tenant has no
    invoice for the customer."""
    totals = figures.currency_figures(await conn.fetch(figures.CUSTOMER_SUMMARY, tenant_id, customer_id))
    if not totals:
        return None
    overdue = _overdue_by_currency(await conn.fetch(CUSTOMER_OVERDUE, tenant_id, as_of, customer_id))
    dates = {r["currency"]: typed(SentDates, r) for r in await conn.fetch(CUSTOMER_SENT_DATES, tenant_id, customer_id)}
    return _combine(totals, overdue, dates)
