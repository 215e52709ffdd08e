"""Filtered invoice counts and gross totals from the cells the workers keep
(projections/cells.py), when the filter allows it.

The cells know each invoice's currency, status, payment status and its due,
issue and sent dates, so a filter on those — with dates in one dimension at
most — is a sum over a few hundred cell rows. A filter on anything else
(customer, billing schedule, number, search, net total, zero quantity) or on
dates of two dimensions needs the invoice rows: ``plan`` returns None and the
caller aggregates them (docs/runbook.md#filtered-summaries).
"""

from __future__ import annotations

import datetime as dt

import msgspec

from projections.cells import COMBINATIONS, DAY, DUE, ISSUE, MONTH, SENT_ON, count_column, gross_column, month_of
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
# {where}: the tenant, dimension and day ranges, then the currency predicates.
CELL_TOTALS = """
SELECT currency, sum({count})::bigint AS invoice_count, sum({gross}) AS gross_total
FROM billing_read.invoice_cells
WHERE tenant_id = $1{where}
GROUP BY currency
HAVING sum({count}) > 0
ORDER BY currency
"""


class DayRange(msgspec.Struct, frozen=True):
    """Rows of one grain with ``start <= day < end`` (None: unbounded)."""

    grain: str
    start: dt.date | None
    end: dt.date | None


class CellPlan(msgspec.Struct, frozen=True):
    """The cells that answer a filter: one dimension's rows in ``ranges``, the
    columns of the (status, payment status) combinations it keeps."""

    dimension: str
    ranges: tuple[DayRange, ...]
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
    return CellPlan(dimension, day_ranges(start, end), kept)


def _kept(value: str, only: list[str] | None, leave_out: list[str] | None) -> bool:
    return (only is None or value in only) and (leave_out is None or value not in leave_out)


def day_ranges(start: dt.date | None, end: dt.date | None) -> tuple[DayRange, ...]:
    """The rows covering days in [start, end): the whole months inside from
    the month grain, the days of the partial months at either end from the
    day grain."""
    if start is not None and end is not None and start >= end:
        return ()
    # Whole months: from the first month starting on or after start, to the month of end.
    first = None if start is None else start if start.day == 1 else _next_month(start)
    last = None if end is None else month_of(end)
    if first is not None and last is not None and first >= last:
        return (DayRange(DAY, start, end),)  # within one or two partial months
    ranges = [DayRange(MONTH, first, last)]
    if start is not None and first is not None and start < first:
        ranges.append(DayRange(DAY, start, first))
    if end is not None and last is not None and last < end:
        ranges.append(DayRange(DAY, last, end))
    return tuple(ranges)


def _next_month(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def cell_query(tenant_id: str, f: InvoiceFilter, cells: CellPlan) -> tuple[str, list[object]]:
    """CELL_TOTALS for ``f`` answered by ``cells``, and its arguments."""
    sql = Sql(tenant_id)
    sql.add("dimension = {}::text", cells.dimension)
    ranges = []
    for r in cells.ranges:
        parts = [f"grain = {sql.param(r.grain)}::text"]
        if r.start is not None:
            parts.append(f"day >= {sql.param(r.start)}::date")
        if r.end is not None:
            parts.append(f"day < {sql.param(r.end)}::date")
        ranges.append("(" + " AND ".join(parts) + ")")
    sql.predicates.append("(" + (" OR ".join(ranges) or "false") + ")")
    sql.add_given(((F_CURRENCY, f.currencies), (F_NOT_CURRENCY, f.not_currencies)))
    # Column names from a fixed list, never from the request.
    count = " + ".join(count_column(*c) for c in cells.combinations) or "0"
    gross = " + ".join(gross_column(*c) for c in cells.combinations) or "0"
    return CELL_TOTALS.format(count=count, gross=gross, where=sql.where), sql.args
