"""Filtered invoice counts and gross totals from the cells the workers keep
(projections/cells.py), when the filter allows it.

The cells know each invoice's currency, status, payment status and its due,
issue and sent dates, so a filter on those — with dates in one dimension at
most — is a sum over one index range of cell rows. A filter on anything else
(customer, billing schedule, number, search, net total, zero quantity) or on
dates of two dimensions needs the invoice rows: ``plan`` returns None and the
caller aggregates them (docs/runbook.md#filtered-summaries).

A filter on one customer, with nothing else but currencies and statuses, is
a sum over that customer's rows of the per-customer sums instead
(``customer_plan``): one row per currency and partition, whatever its
number of invoices.
"""

from __future__ import annotations

import datetime as dt

import msgspec

from projections.cells import COMBINATIONS, DUE, ISSUE, SENT_ON, count_column, gross_column
from projections.invoice import DRAFT, SENT, VOIDED
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


# The per-customer sums keep a count and gross per status, not per payment
# status of every status: a customer filter with those is not answered here.
_CUSTOMER_FILTER_FIELDS = frozenset({"customer_id", "statuses", "not_statuses", "currencies", "not_currencies"})
_STATUS_COLUMNS = {DRAFT: "draft", SENT: "sent", VOIDED: "voided"}

# {count}, {gross}: the kept statuses' columns; {where}: the currency predicates.
CUSTOMER_TOTALS = """
SELECT currency, sum({count})::bigint AS invoice_count, sum({gross}) AS gross_total
FROM billing_read.customer_totals
WHERE tenant_id = $1 AND customer_id = $2{where}
GROUP BY currency
HAVING sum({count}) > 0
ORDER BY currency
"""


class CustomerPlan(msgspec.Struct, frozen=True):
    """One customer's per-customer sums, the statuses it keeps."""

    customer_id: str
    statuses: tuple[str, ...]


def customer_plan(f: InvoiceFilter) -> CustomerPlan | None:
    """The per-customer sums that answer ``f``, or None when it is not a
    filter on one customer that they can answer."""
    # Identity, not equality: a net total of 0 is a given filter.
    given = {name for name in f.__struct_fields__ if getattr(f, name) is not None and getattr(f, name) is not False}
    if f.customer_id is None or not given <= _CUSTOMER_FILTER_FIELDS:
        return None
    kept = tuple(s for s in _STATUS_COLUMNS if _kept(s, f.statuses, f.not_statuses))
    return CustomerPlan(f.customer_id, kept)


def customer_query(tenant_id: str, f: InvoiceFilter, plan: CustomerPlan) -> tuple[str, list[object]]:
    """CUSTOMER_TOTALS for ``f`` answered by ``plan``, and its arguments."""
    sql = Sql(tenant_id, plan.customer_id)
    sql.add_given(((F_CURRENCY, f.currencies), (F_NOT_CURRENCY, f.not_currencies)))
    # Column names from a fixed list, never from the request.
    count = " + ".join(f"{_STATUS_COLUMNS[s]}_count" for s in plan.statuses) or "0"
    gross = " + ".join(f"{_STATUS_COLUMNS[s]}_gross" for s in plan.statuses) or "0"
    return CUSTOMER_TOTALS.format(count=count, gross=gross, where=sql.where), sql.args
