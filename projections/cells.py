"""Invoice counts and gross totals per filter cell (pure, no I/O).

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
(sharded by partition, summed on read). Months could be kept as well, for
ranges of many years, at the price of a second row per change on the write
path: the ingest cost decides against it.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

import msgspec

from projections.invoice import DRAFT, PAID, PARTIALLY_PAID, SENT, UNPAID, VOIDED, InvoiceState

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


class Cell(msgspec.Struct, frozen=True, gc=False):
    """What places one invoice in the cells."""

    currency: str
    status: str
    payment_status: str
    due_date: dt.date
    issue_date: dt.date
    sent_date: dt.date | None
    gross: int

    def dates(self) -> tuple[tuple[str, dt.date], ...]:
        """(dimension, date) of each dimension the invoice has a date in."""
        pairs = ((DUE, self.due_date), (ISSUE, self.issue_date))
        return pairs if self.sent_date is None else (*pairs, (SENT_ON, self.sent_date))


def cell_of(state: InvoiceState | None) -> Cell | None:
    if state is None:
        return None
    return Cell(
        state.currency,
        state.status,
        state.payment_status,
        state.due_date,
        state.issue_date,
        state.sent_date,
        state.gross,
    )


CellSums = dict[CellKey, list[int]]
"""Changes per cell row, one value per column of FIGURES, added to in place
(plain lists: a batch adds a few per event)."""


def add_move(into: CellSums, tenant: str, partition: int, before: Cell | None, after: Cell | None) -> None:
    """Add to ``into`` the changes that move one invoice from ``before`` to ``after``."""
    if before == after:
        return
    for cell, sign in ((before, -1), (after, 1)):
        if cell is None:
            continue
        column = 2 * _COLUMN[(cell.status, cell.payment_status)]
        gross = sign * cell.gross
        for dimension, day in cell.dates():
            key = (tenant, dimension, day, cell.currency, partition)
            sums = into.get(key)
            if sums is None:
                sums = into[key] = [0] * len(FIGURES)
            sums[column] += sign
            sums[column + 1] += gross


def changed(sums: CellSums) -> dict[CellKey, list[int]]:
    """The cell rows whose figures change (moves within a batch can cancel out)."""
    return {key: values for key, values in sums.items() if any(values)}
