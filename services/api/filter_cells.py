"""Filtered invoice counts and gross totals from the cells the workers keep
(projections/cells.py), when the filter allows it.

The cells know each invoice's currency, status, payment status and its due,
issue and sent dates, so a filter on those — with dates in one dimension at
most — is a sum over one index range of cell rows. A filter on anything else
(customer, billing schedule, number, search, net total, zero quantity) or on
dates of two dimensions needs the invoice rows: ``plan`` returns None and the
caller aggregates them (docs/runbook.md#filtered-summaries).
"""

from __future__ import annotations

import datetime as dt

import msgspec

from projections.cells import COMBINATIONS, DUE, ISSUE, SENT_ON, count_column, gross_column
from services.api.filters import F_CURRENCY, F_NOT_CURRENCY, InvoiceFilter, Sql

# The filter's fields the cells cannot answer: any of them set means invoice rows.
_NEEDS_INVOICES = (
    "customer_id",
    "not_customer_id",
    "billing_schedule_id",
    "not_billing_schedule_id",
    "exclude_zero_quantity",
    "search",
    "not_search",
    "invoice_number",
    "not_invoice_number",
    "net_total",
    "not_net_total",
)

# {count}, {gross}: the sums of the columns of the statuses the filter keeps;
# {where}: the dimension, the day range and the currency predicates.
CELL_TOTALS = """
SELECT currency, sum({count})::bigint AS invoice_count, sum({gross}) AS gross_total
FROM billing_read.invoice_cells
WHERE tenant_id = $1{where}
GROUP BY currency
HAVING sum({count}) > 0
ORDER BY currency
"""


class CellPlan(msgspec.Struct, frozen=True):
    """The cells that answer a filter: one dimension's rows with ``start <= day
    < end`` (None: unbounded), the columns of the (status, payment status)
    combinations it keeps."""

    dimension: str
    start: dt.date | None
    end: dt.date | None
    combinations: tuple[tuple[str, str], ...]


def plan(f: InvoiceFilter) -> CellPlan | None:
    """The cell rows that answer ``f``, or None when it needs the invoice rows."""
    if any(getattr(f, name) for name in _NEEDS_INVOICES):
        return None
    bounds = {
        dimension: (after, before)
        for dimension, after, before in (
            (DUE, f.due_after, f.due_before),
            (ISSUE, f.issued_after, f.issued_before),
            (SENT_ON, f.sent_after, f.sent_before),
        )
        if after is not None or before is not None
    }
    if len(bounds) > 1:
        return None
    # No dates: every invoice has exactly one issue date, so all of them.
    dimension, (start, end) = next(iter(bounds.items()), (ISSUE, (None, None)))
    kept = tuple(
        (status, payment)
        for status, payment in COMBINATIONS
        if _kept(status, f.statuses, f.not_statuses) and _kept(payment, f.payment_statuses, f.not_payment_statuses)
    )
    return CellPlan(dimension, start, end, kept)


def _kept(value: str, only: list[str] | None, leave_out: list[str] | None) -> bool:
    return (only is None or value in only) and (leave_out is None or value not in leave_out)


def cell_query(tenant_id: str, f: InvoiceFilter, cells: CellPlan) -> tuple[str, list[object]]:
    """CELL_TOTALS for ``f`` answered by ``cells``, and its arguments."""
    sql = Sql(tenant_id)
    sql.add_given(
        (
            ("dimension = {}::text", cells.dimension),
            ("day >= {}::date", cells.start),
            ("day < {}::date", cells.end),
            (F_CURRENCY, f.currencies),
            (F_NOT_CURRENCY, f.not_currencies),
        )
    )
    # Column names from a fixed list, never from the request.
    count = " + ".join(count_column(*c) for c in cells.combinations) or "0"
    gross = " + ".join(gross_column(*c) for c in cells.combinations) or "0"
    return CELL_TOTALS.format(count=count, gross=gross, where=sql.where), sql.args
