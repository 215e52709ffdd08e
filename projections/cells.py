"""Invoice counts and gross totals per filter cell: what a cell is and its columns.

A filtered summary ("SENT invoices due before D", "EUR invoices issued in
March") is a count and a gross total over the invoices matching the filter.
Instead of aggregating invoice rows per request, the workers keep those
figures per *cell*: the invoices sharing a currency and one date of one
*dimension* (due, issue or sent date), counted apart per status and payment
status (a pair of columns per combination). A date range is then one index
range of rows (one per day, currency and partition: their number grows with
the days covered, not with the invoices); a status filter picks the columns.

Each invoice sits in one cell per dimension (none for the sent date while it
was never sent). A batch moves it between columns of the same row when only
its status changes (the usual case: -1 in one column, +1 in another), so an
event changes about one row; the rows add up like every other summary row
(sharded by partition, summed on read). The store adds a batch's moves in
one grouped upsert from its staged invoice rows and the rows they replace
(projections/store.py CELLS_FROM_STAGE). Months could be kept as well, for
ranges of many years, at the price of a second row per change on the write
path: the ingest cost decides against it.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from projections.invoice import DRAFT, PAID, PARTIALLY_PAID, SENT, UNPAID, VOIDED

DUE, ISSUE, SENT_ON = "due", "issue", "sent"
DIMENSIONS: Final[tuple[str, ...]] = (DUE, ISSUE, SENT_ON)

COMBINATIONS: Final[tuple[tuple[str, str], ...]] = tuple(
    (status, payment) for status in (DRAFT, SENT, VOIDED) for payment in (UNPAID, PARTIALLY_PAID, PAID)
)
"""Every (status, payment status) an invoice can have, in column order."""
_COLUMN: Final[dict[tuple[str, str], int]] = {combination: i for i, combination in enumerate(COMBINATIONS)}


def count_column(status: str, payment_status: str) -> str:
    return f"{status.lower()}_{payment_status.lower()}_count"


def gross_column(status: str, payment_status: str) -> str:
    return f"{status.lower()}_{payment_status.lower()}_gross"


FIGURES: Final[tuple[str, ...]] = tuple(
    column for combination in COMBINATIONS for column in (count_column(*combination), gross_column(*combination))
)
"""The figure columns of invoice_cells: count, then gross, per combination."""

CellKey = tuple[str, str, dt.date, str, int]
"""(tenant, dimension, day, currency, partition): the invoice_cells table's
key, in its column order."""

DATE_COLUMNS: Final[tuple[tuple[str, str], ...]] = ((DUE, "due_date"), (ISSUE, "issue_date"), (SENT_ON, "sent_date"))
"""The invoice row's date column of each dimension (sent_date: null while never sent)."""
