"""Contazen's read: the SENT invoices issued in a period, totalled per currency."""

from __future__ import annotations

import datetime as dt

import msgspec

from services.api.filters import F_CUSTOMER, Sql
from services.api.rows import Connection, all_typed

# SENT invoices issued in [$2, $3], per currency; {where}: the fragments below.
PERIOD_TOTALS = """
SELECT currency,
       sum(gross) AS total_amount,
       sum(least(amount_paid, gross)) AS total_paid,
       sum(balance) AS total_unpaid,
       sum(tax) AS total_vat,
       count(*)::bigint AS invoice_count,
       count(*) FILTER (WHERE payment_status = 'PAID')::bigint AS paid_count,
       count(*) FILTER (WHERE payment_status <> 'PAID')::bigint AS unpaid_count
FROM billing_read.invoices
WHERE tenant_id = $1 AND status = 'SENT' AND issue_date >= $2::date AND issue_date <= $3::date{where}
GROUP BY currency
ORDER BY currency
"""
F_ONE_CURRENCY = "currency = {}::text"
F_SERIES = "series_id = {}::text"
F_DOCUMENT_TYPE = "document_type = {}::text"
F_PAID = "payment_status = 'PAID'"
F_NOT_PAID = "payment_status <> 'PAID'"


class PeriodFilter(msgspec.Struct, frozen=True, kw_only=True):
    currency: str | None = None
    client_id: str | None = None
    series_id: str | None = None
    document_type: str | None = None
    # True: only PAID invoices; False: only those not fully paid.
    paid: bool | None = None


class PeriodTotals(msgspec.Struct, frozen=True):
    """One currency's SENT invoices of the period (amounts in minor units)."""

    currency: str
    total_amount: int
    total_paid: int
    total_unpaid: int
    total_vat: int
    invoice_count: int
    paid_count: int
    unpaid_count: int


async def period_totals(
    conn: Connection, tenant_id: str, start: dt.date, end: dt.date, f: PeriodFilter
) -> list[PeriodTotals]:
    sql = Sql(tenant_id, start, end).add_given(
        (
            (F_ONE_CURRENCY, f.currency),
            (F_CUSTOMER, f.client_id),
            (F_SERIES, f.series_id),
            (F_DOCUMENT_TYPE, f.document_type),
        )
    )
    if f.paid is not None:
        sql.add(F_PAID if f.paid else F_NOT_PAID)
    return all_typed(PeriodTotals, await conn.fetch(PERIOD_TOTALS.format(where=sql.where), *sql.args))
