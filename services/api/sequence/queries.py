"""Sequence's reads: invoice count and gross total per currency, from the
per-currency summary table when unfiltered, from the filter cells or the
per-customer sums when they can answer the filter
(services/api/filter_cells.py), else one aggregate over the matching
invoices. (The list reads pages of invoices: paging.invoice_page.)"""

from __future__ import annotations

import msgspec

from services.api import filter_cells
from services.api.filters import InvoiceFilter, Sql
from services.api.rows import Connection, all_typed

CURRENCY_TOTALS = """
SELECT currency, sum(invoice_count)::bigint AS invoice_count, sum(gross_total) AS gross_total
FROM billing_read.currency_totals
WHERE tenant_id = $1
GROUP BY currency
HAVING sum(invoice_count) > 0
ORDER BY currency
"""
# {where}: filter fragments (filters.py).
FILTERED_TOTALS = """
SELECT currency, count(*)::bigint AS invoice_count, sum(gross) AS gross_total
FROM billing_read.invoices
WHERE tenant_id = $1{where}
GROUP BY currency
ORDER BY currency
"""


class CurrencyTotal(msgspec.Struct, frozen=True):
    """Invoices of one currency: how many, and their gross totals (minor units)."""

    currency: str
    invoice_count: int
    gross_total: int


async def currency_totals(conn: Connection, tenant_id: str, f: InvoiceFilter) -> list[CurrencyTotal]:
    """Per currency, the tenant's invoices (any status) that match ``f``."""
    if f.is_empty:
        return all_typed(CurrencyTotal, await conn.fetch(CURRENCY_TOTALS, tenant_id))
    cells = filter_cells.plan(f)
    customer = filter_cells.customer_plan(f) if cells is None else None
    if cells is not None:
        query, args = filter_cells.cell_query(tenant_id, f, cells)
        records = await conn.fetch(query, *args)
    elif customer is not None:
        query, args = filter_cells.customer_query(tenant_id, f, customer)
        records = await conn.fetch(query, *args)
    else:
        sql = Sql(tenant_id).invoice_filter(f)
        records = await conn.fetch(FILTERED_TOTALS.format(where=sql.where), *sql.args)
    return all_typed(CurrencyTotal, records)
